package dev.idem.testkit.internal;

import dev.idem.testkit.KafkaServer;

/** A broker given by the environment; the testkit neither starts nor stops it. */
public final class ExternalServers {
  private ExternalServers() {}

  /** A broker at the given bootstrap servers. */
  public static KafkaServer kafka(String bootstrapServers) {
    return new ExternalKafka(bootstrapServers);
  }

  private static UnsupportedOperationException notRestartable(String what) {
    return new UnsupportedOperationException(
        what
            + " given by the environment cannot be stopped or restarted by the testkit;"
            + " restart tests need the embedded servers");
  }

  private record ExternalKafka(String bootstrapServers) implements KafkaServer {
    @Override
    public String kind() {
      return "external";
    }

    @Override
    public boolean restartable() {
      return false;
    }

    @Override
    public void stop() {
      throw notRestartable("a Kafka broker");
    }

    @Override
    public void kill() {
      throw notRestartable("a Kafka broker");
    }

    @Override
    public void start() {
      throw notRestartable("a Kafka broker");
    }

    @Override
    public void close() {}
  }
}
