package dev.idem.testkit.pg.internal;

import dev.idem.testkit.pg.PostgresServer;
import dev.idem.testkit.pg.SharedPostgres;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;
import org.testcontainers.containers.PostgreSQLContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * PostgreSQL servers the testkit does not run itself: one given by the environment, or one in a
 * Docker container. Neither can be stopped and restarted (a container remaps its port on restart),
 * so restart tests start their own embedded server.
 */
public final class OtherPostgres {
  private static final String POSTGRES_IMAGE = "postgres:17";

  private OtherPostgres() {}

  /** A database at the given URL, which the testkit neither starts nor stops. */
  public static PostgresServer external(String url, String user, String password) {
    return new Fixed("external", url, user, password, () -> {});
  }

  /** Starts a PostgreSQL 17 container on durable settings. */
  public static PostgresServer container() {
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
    return new Fixed(
        "testcontainers",
        container.getJdbcUrl(),
        container.getUsername(),
        container.getPassword(),
        container::stop);
  }

  private record Fixed(String kind, String jdbcUrl, String user, String password, Runnable onClose)
      implements PostgresServer {
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
      throw notRestartable();
    }

    @Override
    public void start() {
      throw notRestartable();
    }

    private UnsupportedOperationException notRestartable() {
      return new UnsupportedOperationException(
          "a PostgreSQL server ("
              + kind
              + ") cannot be stopped or restarted by the testkit;"
              + " restart tests need the embedded server (-Didem.testkit.infra=embedded)");
    }

    @Override
    public void close() {
      onClose.run();
    }

    @Override
    public String toString() {
      return "PostgresServer[" + kind + ", " + SharedPostgres.withoutCredentials(jdbcUrl) + "]";
    }
  }
}
