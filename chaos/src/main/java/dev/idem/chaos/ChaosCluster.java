package dev.idem.chaos;

import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.pg.EmbeddedPostgresServer;
import dev.idem.testkit.pg.PgProxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The servers chaos runs use: a broker and a PostgreSQL server of their own (runs restart them),
 * and in front of PostgreSQL a proxy that the consumers connect through, so that replies can be
 * dropped. The orchestrator itself connects to PostgreSQL directly. Several runs may use one
 * cluster one after the other: each has its own topics and consumer name.
 */
public final class ChaosCluster implements AutoCloseable {
  private final EmbeddedKafkaBroker broker;
  private final EmbeddedPostgresServer postgres;
  private final PgProxy proxy;
  private final AtomicInteger runs = new AtomicInteger();

  private ChaosCluster(EmbeddedKafkaBroker broker, EmbeddedPostgresServer postgres) {
    this.broker = broker;
    this.postgres = postgres;
    this.proxy = PgProxy.start("127.0.0.1", postgres.port());
  }

  /**
   * Starts the servers. The testkit's broker already lowers the minimum session timeouts to one
   * second, so consumers can use short sessions.
   */
  public static ChaosCluster start() {
    EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.launch();
    EmbeddedPostgresServer postgres = null;
    try {
      postgres = EmbeddedPostgresServer.launch();
      return new ChaosCluster(broker, postgres);
    } catch (RuntimeException e) {
      broker.close();
      if (postgres != null) {
        postgres.close();
      }
      throw e;
    }
  }

  public EmbeddedKafkaBroker broker() {
    return broker;
  }

  public EmbeddedPostgresServer postgres() {
    return postgres;
  }

  /** The proxy in front of PostgreSQL that the consumers connect through. */
  public PgProxy proxy() {
    return proxy;
  }

  /** The JDBC URL consumers use: through the proxy. */
  String consumerJdbcUrl() {
    return proxy.jdbcUrl(postgres.jdbcUrl());
  }

  /** A new direct connection to PostgreSQL (not through the proxy). */
  Connection connect() throws SQLException {
    return postgres.dataSource().getConnection();
  }

  /** A name for the next run on this cluster: unique, usable as a topic and a group name. */
  String nextRunName(String label) {
    return "chaos_" + runs.incrementAndGet() + "_" + label.replaceAll("[^a-zA-Z0-9]", "_");
  }

  @Override
  public void close() {
    try {
      proxy.close();
    } finally {
      try {
        broker.close();
      } finally {
        postgres.close();
      }
    }
  }
}
