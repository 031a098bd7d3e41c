package dev.idem.testkit.internal;

import dev.idem.testkit.KafkaServer;
import dev.idem.testkit.PostgresServer;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;
import org.testcontainers.containers.PostgreSQLContainer;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * Servers in Docker containers, for machines with a Docker engine. Containers remap ports when
 * restarted, so they are not restartable; restart tests use the embedded servers.
 */
public final class ContainerServers {
  private static final String KAFKA_IMAGE = "apache/kafka:4.3.1";
  private static final String POSTGRES_IMAGE = "postgres:17";

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

  /** Starts a PostgreSQL 17 container on durable settings. */
  public static PostgresServer postgres() {
    PostgreSQLContainer<?> container =
        new PostgreSQLContainer<>(DockerImageName.parse(POSTGRES_IMAGE))
            .withCommand(
                "postgres",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "max_connections=300");
    container.start();
    return new ContainerPostgres(container);
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

  private record ContainerPostgres(PostgreSQLContainer<?> container) implements PostgresServer {
    @Override
    public String jdbcUrl() {
      return container.getJdbcUrl();
    }

    @Override
    public String user() {
      return container.getUsername();
    }

    @Override
    public String password() {
      return container.getPassword();
    }

    @Override
    public String kind() {
      return "testcontainers";
    }

    @Override
    public DataSource dataSource() {
      PGSimpleDataSource ds = new PGSimpleDataSource();
      ds.setUrl(jdbcUrl());
      ds.setUser(user());
      ds.setPassword(password());
      return ds;
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
    public void start() {
      throw notRestartable();
    }

    @Override
    public void close() {
      container.stop();
    }
  }
}
