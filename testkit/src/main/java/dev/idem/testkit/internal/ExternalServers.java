package dev.idem.testkit.internal;

import dev.idem.testkit.KafkaServer;
import dev.idem.testkit.PostgresServer;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/** Servers given by the environment; the testkit neither starts nor stops them. */
public final class ExternalServers {
  private ExternalServers() {}

  /** A broker at the given bootstrap servers. */
  public static KafkaServer kafka(String bootstrapServers) {
    return new ExternalKafka(bootstrapServers);
  }

  /** A database at the given URL. */
  public static PostgresServer postgres(String url, String user, String password) {
    return new ExternalPostgres(url, user, password);
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

  private record ExternalPostgres(String jdbcUrl, String user, String password)
      implements PostgresServer {
    @Override
    public String kind() {
      return "external";
    }

    @Override
    public DataSource dataSource() {
      PGSimpleDataSource ds = new PGSimpleDataSource();
      ds.setUrl(jdbcUrl);
      ds.setUser(user);
      ds.setPassword(password);
      return ds;
    }

    @Override
    public boolean restartable() {
      return false;
    }

    @Override
    public void stop() {
      throw notRestartable("a PostgreSQL server");
    }

    @Override
    public void start() {
      throw notRestartable("a PostgreSQL server");
    }

    @Override
    public void close() {}

    @Override
    public String toString() {
      return "ExternalPostgres[" + jdbcUrl + ", user " + user + "]";
    }
  }
}
