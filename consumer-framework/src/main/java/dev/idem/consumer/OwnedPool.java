package dev.idem.consumer;

import com.zaxxer.hikari.HikariConfig;
import dev.idem.lock.internal.SchemaMigrator;
import java.time.Duration;

/**
 * The settings of the HikariCP pool a consumer opens itself from {@code pg.*}. Its connections get
 * a socket timeout, so that a reply that never comes (a network partition, a dropped packet, a
 * frozen server) ends in an error instead of a thread blocked until TCP gives up, hours later.
 */
final class OwnedPool {
  /**
   * Room above the longest wait for a reply, so that only a connection whose server stopped
   * answering times out, never a slow statement.
   */
  static final Duration SOCKET_TIMEOUT_MARGIN = Duration.ofSeconds(30);

  /**
   * The longest a worker waits to borrow a connection. The pool holds at least concurrency + 2, so
   * a worker waits only while connections are being (re)opened, that is while the database is
   * unreachable; the record then waits for the database without using up an attempt. Within the
   * default drain timeout, so a revoke is not held up by a borrow.
   */
  static final Duration CONNECTION_TIMEOUT = Duration.ofSeconds(10);

  private OwnedPool() {}

  /** The pool's settings for {@code config}, which has {@code pg.*} settings. */
  static HikariConfig settings(IdemConfig config) {
    IdemConfig.DatabaseSettings db = config.database();
    HikariConfig hikari = new HikariConfig();
    hikari.setJdbcUrl(db.url());
    hikari.setUsername(db.user());
    hikari.setPassword(db.password());
    hikari.setMaximumPoolSize(db.poolSize());
    hikari.setPoolName("idem-" + config.consumerName());
    hikari.setConnectionTimeout(CONNECTION_TIMEOUT.toMillis());
    // A socketTimeout in pg.url wins: pgjdbc reads the URL's parameters over these properties.
    hikari.addDataSourceProperty("socketTimeout", Long.toString(socketTimeout(config).toSeconds()));
    return hikari;
  }

  /**
   * pgjdbc's socket timeout for the pool, in whole seconds: above the longest a statement idem runs
   * there can wait for its reply, plus {@link #SOCKET_TIMEOUT_MARGIN}. A processing transaction's
   * statements are bounded by the handler timeout and its lock wait by the lock timeout (on
   * PostgreSQL 17+ the whole transaction by their sum); the schema migration waits up to {@link
   * SchemaMigrator#LOCK_WAIT} for its lock.
   */
  static Duration socketTimeout(IdemConfig config) {
    Duration processing = config.lockTimeout().plus(config.handlerTimeout());
    Duration longest =
        processing.compareTo(SchemaMigrator.LOCK_WAIT) > 0 ? processing : SchemaMigrator.LOCK_WAIT;
    long millis = longest.plus(SOCKET_TIMEOUT_MARGIN).toMillis();
    return Duration.ofSeconds((millis + 999) / 1000);
  }
}
