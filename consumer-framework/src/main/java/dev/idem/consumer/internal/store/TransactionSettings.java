package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The settings every processing transaction starts with, and its advisory lock: READ COMMITTED, the
 * transaction-local timeouts, {@code synchronous_commit=on}.
 */
public final class TransactionSettings {
  /** The first server version with {@code transaction_timeout}. */
  private static final int TRANSACTION_TIMEOUT_SINCE = 170000;

  private final Duration lockTimeout;
  private final Duration handlerTimeout;
  private final int records;
  private final int serverVersionNum;
  private final String beginSql;
  private final String settingsSelect;
  private final ConcurrentMap<Integer, TransactionSettings> scaled = new ConcurrentHashMap<>();

  /**
   * @param lockTimeout the bound of the wait for a duplicate's lock
   * @param handlerTimeout the bound of every statement and of idle time in the transaction
   * @param serverVersionNum the server's {@code server_version_num}
   */
  public TransactionSettings(Duration lockTimeout, Duration handlerTimeout, int serverVersionNum) {
    this(lockTimeout, handlerTimeout, 1, serverVersionNum);
  }

  private TransactionSettings(
      Duration lockTimeout, Duration handlerTimeout, int records, int serverVersionNum) {
    this.lockTimeout = lockTimeout;
    this.handlerTimeout = handlerTimeout;
    this.records = records;
    this.serverVersionNum = serverVersionNum;
    // lock_timeout bounds each lock wait on its own (PostgreSQL applies it to every wait, not to
    // the statement): never scaled. The others bound the holder, which applies `records` records.
    Duration statement = times(handlerTimeout, records);
    // Values are validated durations, not user text.
    StringBuilder settings =
        new StringBuilder("SELECT set_config('lock_timeout', '")
            .append(lockTimeout.toMillis())
            .append("ms', true), set_config('statement_timeout', '")
            .append(statement.toMillis())
            .append("ms', true), set_config('idle_in_transaction_session_timeout', '")
            .append(statement.toMillis())
            .append("ms', true), set_config('synchronous_commit', 'on', true)");
    if (serverVersionNum >= TRANSACTION_TIMEOUT_SINCE) {
      settings
          .append(", set_config('transaction_timeout', '")
          .append(times(lockTimeout, records).plus(statement).toMillis())
          .append("ms', true)");
    }
    this.settingsSelect = settings.toString();
    // Two statements in one round trip: the isolation level must be set before the transaction's
    // first query; the transaction-local settings then travel in one SELECT.
    this.beginSql = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; " + settingsSelect;
  }

  /**
   * The settings of a transaction that applies {@code records} records (a grouped transaction).
   * {@code lock_timeout} stays the single record's: PostgreSQL applies it to each lock wait
   * separately, so each of the group's locks already has the budget it has alone, and a copy of one
   * of the group's events elsewhere must not meet a longer wait than it would allow itself. The
   * timeouts that bound the holder ({@code statement_timeout}, {@code
   * idle_in_transaction_session_timeout}, {@code transaction_timeout}) are {@code records} times
   * the single record's, capped at PostgreSQL's limit: its statements include the one that takes
   * all the locks (up to {@code records} waits) and its idle time spans {@code records} handler
   * calls.
   */
  public TransactionSettings forRecords(int records) {
    if (records <= 1 || records == this.records) {
      return this;
    }
    return scaled.computeIfAbsent(
        records, n -> new TransactionSettings(lockTimeout, handlerTimeout, n, serverVersionNum));
  }

  /** {@code d} times {@code n}, at most half of PostgreSQL's int milliseconds (their sum fits). */
  private static Duration times(Duration d, int n) {
    return Duration.ofMillis(Math.min(d.toMillis() * n, Integer.MAX_VALUE / 2));
  }

  /** The settings as SQL text: two statements, for callers that send more in the same trip. */
  String beginSql() {
    return beginSql;
  }

  /** The settings; must be the first call of the transaction. */
  public void begin(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute(beginSql);
    }
  }

  /** {@link #begin} and {@link #lock} in one round trip. */
  public void beginAndLock(Connection c, long key) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(beginAndLockSql())) {
      ps.setLong(1, key);
      ps.execute();
    }
  }

  /**
   * The settings and the lock as one prepared text, whose one parameter is the lock key: two
   * statements that travel in one round trip (more may follow them, see {@link
   * PostgresIdempotencyStore#beginLockAndMark}). The text is the same for every transaction, so the
   * driver prepares it on the server once per connection.
   */
  String beginAndLockSql() {
    // The settings take effect before the lock function runs: select-list items are evaluated in
    // order, so the lock wait is bounded by the lock_timeout just set. The lock ends its statement:
    // under READ COMMITTED the next statement takes a fresh snapshot, which sees a mark committed
    // by the copy we waited for.
    return beginSql + ", pg_advisory_xact_lock(?)";
  }

  /** Waits for the advisory transaction lock {@code key}; released at commit or rollback. */
  public void lock(Connection c, long key) throws SQLException {
    // Its own statement: under READ COMMITTED the next statement takes a fresh snapshot, which
    // sees a mark committed by the copy we waited for.
    try (PreparedStatement ps = c.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
      ps.setLong(1, key);
      ps.execute();
    }
  }
}
