package dev.idem.testkit.internal;

import dev.idem.testkit.KafkaServer;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The Kafka broker in a Docker container (the PostgreSQL container is the PostgreSQL testkit's),
 * for machines with a Docker engine. A container remaps its port when restarted, so it is not
 * restartable; restart tests use the embedded servers.
 */
public final class ContainerServers {
  private static final String KAFKA_IMAGE = "apache/kafka:4.3.1";

  private ContainerServers() {}

  /** Starts a single-node KRaft broker container. */
  public static KafkaServer kafka() {
    KafkaContainer container =
        new KafkaContainer(DockerImageName.parse(KAFKA_IMAGE))
            .withEnv("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "1000")
            .withEnv("KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS", "1000")
            .withEnv("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .withEnv("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false");
    container.start();
    return new ContainerKafka(container);
  }

  private static UnsupportedOperationException notRestartable() {
    return new UnsupportedOperationException(
        "containers remap their ports on restart; restart tests need the embedded servers"
            + " (-Didem.testkit.infra=embedded)");
  }

  private record ContainerKafka(KafkaContainer container) implements KafkaServer {
    @Override
    public String bootstrapServers() {
      return container.getBootstrapServers();
    }

    @Override
    public String kind() {
      return "testcontainers";
    }

    @Override
    public boolean restartable() {
      return false;
    }

    @Override
    public void stop() {
      throw notRestartable();
    }

    @Override
    public void kill() {
      throw notRestartable();
    }

    @Override
    public void start() {
      throw notRestartable();
    }

    @Override
    public void close() {
      container.stop();
    }
  }
}
