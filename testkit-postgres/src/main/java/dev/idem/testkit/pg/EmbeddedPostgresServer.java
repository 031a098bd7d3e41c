package dev.idem.testkit.pg;

import dev.idem.testkit.pg.internal.Files2;
import dev.idem.testkit.pg.internal.Ports;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server (17.x, from the zonky embedded binaries) on a free loopback port with a
 * temporary data directory, on durable settings: {@code fsync=on} and {@code synchronous_commit=on}
 * (the embedded builder turns both off unless told otherwise).
 *
 * <p>{@link #stop()} and {@link #start()} keep the data directory and the port: a stopped instance
 * of the embedded library cannot be started again, so a new one is started on the same directory.
 */
public final class EmbeddedPostgresServer implements PostgresServer {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedPostgresServer.class);
  private static final String USER = "postgres";

  private final Path dataDirectory;
  private final int port;
  private final Map<String, String> serverConfig;
  private EmbeddedPostgres postgres;
  private boolean closed;

  private EmbeddedPostgresServer(Map<String, String> overrides) {
    try {
      Path parent = Files.createTempDirectory("idem-pg-");
      this.dataDirectory = parent.resolve("data");
    } catch (IOException e) {
      throw new TestkitException("cannot create the PostgreSQL data directory", e);
    }
    this.port = Ports.freePort();
    Map<String, String> config = new LinkedHashMap<>();
    config.put("fsync", "on");
    config.put("synchronous_commit", "on");
    config.put("full_page_writes", "on");
    config.put("max_connections", "300");
    config.put("listen_addresses", "127.0.0.1");
    config.put("timezone", "UTC");
    config.putAll(overrides);
    this.serverConfig = Map.copyOf(config);
    Runtime.getRuntime().addShutdownHook(new Thread(this::close, "idem-pg-shutdown"));
  }

  /** Starts a server with the default settings. */
  public static EmbeddedPostgresServer launch() {
    return launch(Map.of());
  }

  /** Starts a server with extra or replaced {@code postgresql.conf} settings. */
  public static EmbeddedPostgresServer launch(Map<String, String> overrides) {
    EmbeddedPostgresServer server = new EmbeddedPostgresServer(overrides);
    server.start();
    return server;
  }

  @Override
  public String jdbcUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
  }

  @Override
  public String user() {
    return USER;
  }

  @Override
  public String password() {
    return "";
  }

  @Override
  public String kind() {
    return "embedded";
  }

  @Override
  public DataSource dataSource() {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(jdbcUrl());
    ds.setUser(USER);
    return ds;
  }

  @Override
  public boolean restartable() {
    return true;
  }

  /** The server's port on 127.0.0.1. */
  public int port() {
    return port;
  }

  @Override
  public synchronized void start() {
    if (closed) {
      throw new TestkitException("the server was closed; start a new one");
    }
    if (postgres != null) {
      return;
    }
    EmbeddedPostgres.Builder builder =
        EmbeddedPostgres.builder()
            .setPort(port)
            .setDataDirectory(dataDirectory)
            .setCleanDataDirectory(false)
            .setRegisterShutdownHook(false)
            .setPGStartupWait(Duration.ofSeconds(60));
    serverConfig.forEach(builder::setServerConfig);
    try {
      postgres = builder.start();
    } catch (IOException e) {
      throw new TestkitException("cannot start PostgreSQL on port " + port, e);
    }
    log.info("PostgreSQL listening on 127.0.0.1:{} (data {})", port, dataDirectory);
  }

  @Override
  public synchronized void stop() {
    EmbeddedPostgres running = postgres;
    postgres = null;
    if (running == null) {
      return;
    }
    try {
      // With setCleanDataDirectory(false) close() stops the server and keeps the data.
      running.close();
    } catch (IOException e) {
      throw new TestkitException("cannot stop PostgreSQL on port " + port, e);
    }
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      stop();
    } finally {
      Files2.deleteTree(dataDirectory.getParent());
    }
  }

  @Override
  public String toString() {
    return "EmbeddedPostgresServer[127.0.0.1:" + port + "]";
  }
}
