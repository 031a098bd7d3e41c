package dev.idem.lock;

import dev.idem.IdemException;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.internal.LockMetrics;
import dev.idem.lock.internal.LockSql;
import dev.idem.lock.internal.SchemaMigrator;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.management.ManagementFactory;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import javax.sql.DataSource;

/**
 * PostgreSQL advisory locks made safe to use: transaction-scoped locks on the caller's connection,
 * session-scoped locks on dedicated connections, singleton jobs and leader election.
 *
 * <pre>{@code
 * AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
 *
 * // Only one instance runs the nightly job; the others skip at once and say so.
 * RunResult<Integer> r = locks.runExclusive("nightly-report", () -> report.build());
 *
 * // Don't rebuild user 500's cache twice at once (transaction scope, pooled connection is fine).
 * locks.inTransaction(pool, LockKey.of("cache-rebuild", 500), Duration.ofSeconds(5),
 *     c -> cache.rebuild(c, 500));
 * }</pre>
 *
 * <p>Transaction-scoped locks are released at commit or rollback and are safe on pooled
 * connections. Session-scoped locks (also behind {@link #runExclusive} and {@link #leaderElection})
 * live as long as their connection, so they only ever use connections from the {@link
 * ConnectionFactory}, never a pool, and are refused behind a transaction-mode pooler.
 *
 * <p>Over 400 lines: it is the library's single entry point, and most of its length is the
 * documentation of each pattern and its pitfall; the SQL is in {@code LockSql}, the leader in
 * {@link LeaderElection}.
 */
public final class AdvisoryLocks {
  private final ConnectionFactory connections;
  private final LockMetrics metrics;
  private final Clock clock;
  private final String schema;
  private final String jobNamespace;
  private final String holder;
  private volatile boolean schemaApplied;

  private AdvisoryLocks(Builder b) {
    this.connections = b.connections;
    this.metrics = new LockMetrics(b.registry);
    this.clock = b.clock;
    this.schema = b.schema;
    this.jobNamespace = b.jobNamespace;
    this.holder = b.holder;
  }

  /** A builder using {@code connections} for everything session-scoped. */
  public static Builder builder(ConnectionFactory connections) {
    return new Builder(connections);
  }

  /** The name this process records as holder of jobs and leaderships. */
  public String holder() {
    return holder;
  }

  // ---- transaction scope ------------------------------------------------------------------

  /**
   * Takes a transaction-scoped lock on a connection that is inside a transaction, waiting at most
   * {@code timeout}. The transaction's {@code lock_timeout} is restored afterwards; on timeout the
   * transaction stays usable (the attempt is rolled back to a savepoint).
   *
   * @throws LockTimeoutException naming the key when the lock was not granted in time
   * @throws IllegalStateException when the connection is in autocommit mode (the lock would be
   *     released at once)
   */
  public void lock(Connection transaction, LockKey key, Duration timeout) {
    requireTransaction(transaction, key);
    long start = System.nanoTime();
    Savepoint savepoint = null;
    try {
      savepoint = transaction.setSavepoint();
      String previous = LockSql.lockTimeout(transaction);
      LockSql.setLockTimeout(transaction, LockSql.millis(timeout), true);
      LockSql.call(transaction, LockSql.Call.XACT_LOCK, key);
      LockSql.setLockTimeout(transaction, previous, true);
      transaction.releaseSavepoint(savepoint);
    } catch (SQLException e) {
      rollbackTo(transaction, savepoint, e);
      if ("55P03".equals(e.getSQLState())) {
        throw new LockTimeoutException(key, timeout, e);
      }
      throw new LockException(key, "taking the lock failed: " + e.getMessage(), e);
    } finally {
      metrics.waited(key.namespace(), "transaction", System.nanoTime() - start);
    }
    metrics.acquired(key.namespace(), "transaction");
  }

  /**
   * Takes a transaction-scoped lock if it is free, without waiting.
   *
   * @return false at once when another session holds it
   */
  public boolean tryLock(Connection transaction, LockKey key) {
    requireTransaction(transaction, key);
    try {
      boolean got = LockSql.call(transaction, LockSql.Call.XACT_TRY, key);
      if (got) {
        metrics.acquired(key.namespace(), "transaction");
      } else {
        metrics.missed(key.namespace(), "transaction");
      }
      return got;
    } catch (SQLException e) {
      throw new LockException(key, "trying the lock failed: " + e.getMessage(), e);
    }
  }

  /**
   * Opens a transaction on a connection of {@code dataSource} (pooled is fine), takes the lock
   * (waiting at most {@code timeout}), runs {@code work}, and commits; rolls back if the work
   * throws. The lock is released at the end of the transaction.
   */
  public <T> T inTransaction(
      DataSource dataSource, LockKey key, Duration timeout, SqlWork<T> work) {
    return transaction(
            dataSource,
            key,
            c -> {
              lock(c, key, timeout);
              return RunResult.ran(work.run(c));
            })
        .value();
  }

  /**
   * Like {@link #inTransaction}, but skips at once when the lock is taken.
   *
   * @return ran with the work's value, or skipped
   */
  public <T> RunResult<T> tryInTransaction(DataSource dataSource, LockKey key, SqlWork<T> work) {
    return transaction(
        dataSource,
        key,
        c -> {
          if (!tryLock(c, key)) {
            return RunResult.skipped(key + " is held elsewhere");
          }
          return RunResult.ran(work.run(c));
        });
  }

  private <T> RunResult<T> transaction(
      DataSource dataSource, LockKey key, SqlWork<RunResult<T>> body) {
    Connection c;
    try {
      c = dataSource.getConnection();
    } catch (SQLException e) {
      throw new LockException(key, "no connection: " + e.getMessage(), e);
    }
    try {
      return Transactions.standard().on(c, body::run);
    } catch (Exception e) {
      throw propagate(key, e);
    } finally {
      closeQuietly(c);
    }
  }

  // ---- session scope ----------------------------------------------------------------------

  /**
   * Takes a session-scoped lock on a new dedicated connection, waiting at most {@code timeout}.
   *
   * @throws LockTimeoutException naming the key when not granted in time
   * @throws TransactionPoolerException behind a transaction-mode pooler
   */
  public SessionLock lockSession(LockKey key, Duration timeout) {
    Connection c = open(key);
    long start = System.nanoTime();
    try {
      int pid = requireDirectSession(c, key);
      LockSql.setLockTimeout(c, LockSql.millis(timeout), false);
      LockSql.call(c, LockSql.Call.SESSION_LOCK, key);
      LockSql.setLockTimeout(c, "0", false);
      metrics.acquired(key.namespace(), "session");
      return new SessionLock(key, c, pid);
    } catch (SQLException e) {
      closeQuietly(c);
      if ("55P03".equals(e.getSQLState())) {
        throw new LockTimeoutException(key, timeout, e);
      }
      throw new LockException(key, "taking the session lock failed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      closeQuietly(c);
      throw e;
    } finally {
      metrics.waited(key.namespace(), "session", System.nanoTime() - start);
    }
  }

  /**
   * Takes a session-scoped lock if it is free, without waiting.
   *
   * @return the held lock, or empty when another session holds it
   * @throws TransactionPoolerException behind a transaction-mode pooler
   */
  public Optional<SessionLock> tryLockSession(LockKey key) {
    Connection c = open(key);
    try {
      int pid = requireDirectSession(c, key);
      if (LockSql.call(c, LockSql.Call.SESSION_TRY, key)) {
        metrics.acquired(key.namespace(), "session");
        return Optional.of(new SessionLock(key, c, pid));
      }
      metrics.missed(key.namespace(), "session");
      closeQuietly(c);
      return Optional.empty();
    } catch (SQLException e) {
      closeQuietly(c);
      throw new LockException(key, "trying the session lock failed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      closeQuietly(c);
      throw e;
    }
  }

  // ---- singleton jobs ---------------------------------------------------------------------

  /**
   * Runs {@code work} only if no other instance is running the job {@code name} right now: a
   * try-lock held for the whole run on a dedicated connection, with no guessed time-to-live. The
   * others skip at once.
   *
   * <p>A try-lock cannot promise "once per round" to an instance that starts late: it may find the
   * job finished and run it again. Use {@link #runOncePerWindow} for that.
   *
   * @return ran with the work's value, or skipped because another instance holds the job
   */
  public <T> RunResult<T> runExclusive(String name, Callable<T> work) {
    LockKey key = LockKey.of(jobNamespace, name);
    Optional<SessionLock> lock = tryLockSession(key);
    if (lock.isEmpty()) {
      return RunResult.skipped("job " + name + " is running on another instance");
    }
    try (SessionLock held = lock.get()) {
      return RunResult.ran(call(key, work));
    }
  }

  /**
   * Runs {@code work} at most once per window (windows of {@code window} length aligned to the
   * epoch, in UTC, on the injected clock), however many schedulers fire and however late: the
   * window is claimed in a table under the job's lock before the work runs, so a failed run is not
   * repeated within its window.
   *
   * @return ran, or skipped because another instance holds the job or it ran in this window
   */
  public <T> RunResult<T> runOncePerWindow(String name, Duration window, Callable<T> work) {
    if (window.isZero() || window.isNegative()) {
      throw new IllegalArgumentException("window must be positive");
    }
    ensureSchema();
    LockKey key = LockKey.of(jobNamespace, name);
    Optional<SessionLock> lock = tryLockSession(key);
    if (lock.isEmpty()) {
      return RunResult.skipped("job " + name + " is running on another instance");
    }
    try (SessionLock held = lock.get()) {
      long now = clock.millis();
      Instant start = Instant.ofEpochMilli(now - Math.floorMod(now, window.toMillis()));
      boolean claimed;
      try {
        claimed = LockSql.claimWindow(held.connection(), schema, name, start, holder);
      } catch (SQLException e) {
        throw new LockException(key, "claiming the window failed: " + e.getMessage(), e);
      }
      if (!claimed) {
        return RunResult.skipped("job " + name + " already ran in the window starting " + start);
      }
      return RunResult.ran(call(key, work));
    }
  }

  // ---- leader election --------------------------------------------------------------------

  /**
   * A leader election for the role {@code (namespace, name)} among every process using the same
   * database. Call {@link LeaderElection#start()}; close it to hand leadership over.
   *
   * @param namespace the role's lock namespace
   * @param name the role's name
   * @param pingInterval how often the leader checks its connection; the revoked callback is queued
   *     within about two intervals of losing it, and also bounds how long a new epoch waits for
   *     fenced writes of earlier leaders
   * @param listener told of elections and revocations, on the election's own callback thread
   */
  public LeaderElection leaderElection(
      String namespace, String name, Duration pingInterval, LeaderListener listener) {
    ensureSchema();
    return new LeaderElection(
        this, LockKey.of(namespace, name), pingInterval, listener, metrics, schema, holder);
  }

  // ---- helpers ----------------------------------------------------------------------------

  Connection open(LockKey key) {
    try {
      Connection c = connections.open();
      c.setAutoCommit(true);
      return c;
    } catch (SQLException e) {
      throw new LockException(key, "no connection for the session lock: " + e.getMessage(), e);
    }
  }

  /** Two transactions on one connection must run on one backend, else a pooler is in between. */
  static int requireDirectSession(Connection c, LockKey key) throws SQLException {
    int first = LockSql.backendPid(c);
    int second = LockSql.backendPid(c);
    if (first != second) {
      throw new TransactionPoolerException(key, first, second);
    }
    return first;
  }

  private void ensureSchema() {
    if (schemaApplied) {
      return;
    }
    synchronized (this) {
      if (!schemaApplied) {
        try (Connection c = connections.open()) {
          SchemaMigrator.locks(schema).migrateOn(c);
        } catch (SQLException e) {
          throw new IdemException("cannot apply the lock schema: " + e.getMessage(), e);
        }
        schemaApplied = true;
      }
    }
  }

  private static <T> T call(LockKey key, Callable<T> work) {
    try {
      return work.call();
    } catch (Exception e) {
      throw propagate(key, e);
    }
  }

  private static RuntimeException propagate(LockKey key, Exception e) {
    if (e instanceof RuntimeException r) {
      return r;
    }
    return new LockException(key, "work under the lock failed: " + e, e);
  }

  private static void requireTransaction(Connection c, LockKey key) {
    try {
      if (c.getAutoCommit()) {
        throw new IllegalStateException(
            "transaction-scoped lock on "
                + key
                + " needs a transaction: the connection is in"
                + " autocommit mode, so the lock would be released at once; call"
                + " setAutoCommit(false) first");
      }
    } catch (SQLException e) {
      throw new LockException(key, "connection unusable: " + e.getMessage(), e);
    }
  }

  private static void rollbackTo(Connection c, Savepoint savepoint, SQLException cause) {
    if (savepoint == null) {
      return;
    }
    try {
      c.rollback(savepoint);
    } catch (SQLException e) {
      cause.addSuppressed(e);
    }
  }

  static void closeQuietly(Connection c) {
    try {
      c.close();
    } catch (SQLException e) {
      // Nothing left to release.
    }
  }

  /** Work on a connection inside a transaction. */
  @FunctionalInterface
  public interface SqlWork<T> {
    T run(Connection connection) throws Exception;
  }

  /** Configures an {@link AdvisoryLocks}. */
  public static final class Builder {
    private final ConnectionFactory connections;
    private MeterRegistry registry = new SimpleMeterRegistry();
    private Clock clock = Clock.systemUTC();
    private String schema = "idem";
    private String jobNamespace = "idem.jobs";
    private String holder =
        ManagementFactory.getRuntimeMXBean().getName()
            + "/"
            + UUID.randomUUID().toString().substring(0, 8);

    private Builder(ConnectionFactory connections) {
      this.connections = Objects.requireNonNull(connections, "connections");
    }

    /** Where the toolkit's meters go. */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /** The clock of job windows. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** The schema of the leader and job tables; default {@code idem}. */
    public Builder schema(String schema) {
      if (schema == null || !schema.matches("[a-z_][a-z0-9_]{0,62}")) {
        throw new IllegalArgumentException(
            "schema '" + schema + "' is not a lower-case SQL identifier");
      }
      this.schema = schema;
      return this;
    }

    /** The lock namespace of singleton jobs; default {@code idem.jobs}. */
    public Builder jobNamespace(String namespace) {
      this.jobNamespace = Objects.requireNonNull(namespace, "namespace");
      return this;
    }

    /** The name recorded as holder of jobs and leaderships; default JVM name and a random id. */
    public Builder holder(String holder) {
      this.holder = Objects.requireNonNull(holder, "holder");
      return this;
    }

    public AdvisoryLocks build() {
      return new AdvisoryLocks(this);
    }
  }
}
