package dev.idem.testkit.pg;

import javax.sql.DataSource;

/**
 * A running PostgreSQL server that tests connect to.
 *
 * <p>Embedded servers can be stopped and started again on the same port with their data kept;
 * servers from the environment or from containers cannot, and say so through {@link
 * #restartable()}.
 */
public interface PostgresServer extends AutoCloseable {

  /** The JDBC URL of the test database. */
  String jdbcUrl();

  /** The user to connect as. */
  String user();

  /** The password to connect with; never logged. */
  String password();

  /** Where this server comes from, for logs: "embedded", "testcontainers" or "external". */
  String kind();

  /**
   * A new unpooled data source on the test database. Each {@code getConnection()} opens a new
   * driver connection.
   */
  DataSource dataSource();

  /** Whether {@link #stop()} and {@link #start()} are supported. */
  boolean restartable();

  /**
   * Stops the server (fast shutdown: open sessions are terminated), keeping its data directory and
   * port.
   *
   * @throws UnsupportedOperationException if the server is not {@linkplain #restartable()
   *     restartable}
   */
  void stop();

  /**
   * Starts a stopped server on the same port and data directory and waits until it accepts
   * connections.
   *
   * @throws UnsupportedOperationException if the server is not {@linkplain #restartable()
   *     restartable}
   */
  void start();

  /** Stops the server for good and deletes what it wrote. */
  @Override
  void close();
}
