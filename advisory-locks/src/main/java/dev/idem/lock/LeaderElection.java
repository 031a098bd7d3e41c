package dev.idem.lock;

import dev.idem.lock.internal.LockMetrics;
import dev.idem.lock.internal.LockSql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One elector of a role: it becomes leader by taking the role's session lock on a dedicated
 * connection, and stays leader while that connection answers its pings.
 *
 * <p>A failed ping does not prove that the server dropped the session: after a network partition
 * the server may keep it, and the lock, until TCP keepalive notices. So the leader's session sets
 * {@code tcp_keepalives_*} and {@code idle_session_timeout} to about three ping intervals, the
 * leader steps down as soon as a ping fails (the revoked callback fires and its connection is
 * closed), and each leadership gets a new epoch from PostgreSQL: work that must not run twice is
 * fenced with {@link FencingToken#check(java.sql.Connection)}, so a stale leader's writes are
 * refused once a newer leader exists.
 *
 * <p>The listener's callbacks run on a thread of their own, one at a time and in order (an {@code
 * elected} before its {@code revoked}), never on the thread that pings: a slow callback, like a
 * long GC pause of it, cannot leave the leader's session idle long enough for the server to end it.
 * {@link #isLeader()} turns true when the epoch is committed, before {@code elected} runs.
 *
 * <p>Taking a new epoch waits for fenced writes of earlier leaders still in flight (their {@code
 * FOR SHARE} lock on the epoch row), but only for about one ping interval ({@code lock_timeout};
 * {@code statement_timeout} two): a stale leader's transaction can stay open for long, and the
 * elector holds the role's lock while it waits. When the bound runs out, the elector releases the
 * role's lock and tries again after an interval, so it never sits on the role without an epoch.
 */
public final class LeaderElection implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(LeaderElection.class);

  /** How long close() waits for the ping thread, and then for the callbacks, to finish. */
  private static final Duration CLOSE_WAIT = Duration.ofSeconds(10);

  private final AdvisoryLocks locks;
  private final LockKey key;
  private final Duration ping;
  private final LeaderListener listener;
  private final LockMetrics metrics;
  private final String schema;
  private final String holder;
  private final Thread thread;
  private final ExecutorService callbacks;
  private volatile Thread callbackThread;
  private volatile boolean running;
  private volatile FencingToken token;
  private Connection connection;
  private boolean epochBlocked;

  LeaderElection(
      AdvisoryLocks locks,
      LockKey key,
      Duration ping,
      LeaderListener listener,
      LockMetrics metrics,
      String schema,
      String holder) {
    if (ping.toMillis() < 50) {
      throw new IllegalArgumentException("ping interval must be at least 50 ms");
    }
    this.locks = locks;
    this.key = key;
    this.ping = ping;
    this.listener = listener;
    this.metrics = metrics;
    this.schema = schema;
    this.holder = holder;
    String threadName = "idem-leader-" + key.namespace() + "-" + key.name();
    this.thread = new Thread(this::loop, threadName);
    thread.setDaemon(true);
    this.callbacks =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, threadName + "-callbacks");
              t.setDaemon(true);
              callbackThread = t;
              return t;
            });
    metrics.leaderGauge(key.namespace(), key.name(), () -> token == null ? 0 : 1);
  }

  /** Starts competing for the role. */
  public synchronized void start() {
    if (running) {
      return;
    }
    running = true;
    thread.start();
  }

  /**
   * Whether this elector is leader now. True from the moment its epoch is committed, which can be
   * before its {@code elected} callback has run.
   */
  public boolean isLeader() {
    return token != null;
  }

  /** The current leadership's token, or empty when not leader. */
  public Optional<FencingToken> token() {
    return Optional.ofNullable(token);
  }

  /** The role's key. */
  public LockKey key() {
    return key;
  }

  private void loop() {
    while (running) {
      try {
        if (connection == null) {
          connect();
        }
        if (token == null) {
          tryToLead();
        } else if (!connection.isValid(Math.max(1, (int) ping.toSeconds()))) {
          stepDown("its connection stopped answering");
        }
      } catch (SQLException | RuntimeException e) {
        if (token != null) {
          stepDown("of " + e);
        } else {
          log.debug("leader election {} attempt failed: {}", key, e.toString());
          dropConnection();
        }
      }
      sleep(ping);
    }
  }

  private void connect() throws SQLException {
    Connection c = locks.open(key);
    try {
      AdvisoryLocks.requireDirectSession(c, key);
      LockSql.leaderSession(c, ping);
    } catch (SQLException | RuntimeException e) {
      AdvisoryLocks.closeQuietly(c);
      throw e;
    }
    connection = c;
  }

  private void tryToLead() throws SQLException {
    if (!LockSql.call(connection, LockSql.Call.SESSION_TRY, key)) {
      return;
    }
    long epoch;
    try {
      epoch = LockSql.nextEpoch(connection, schema, key.namespace(), key.name(), holder, ping);
    } catch (SQLException e) {
      if (!LockSql.isTimeout(e)) {
        throw e; // the loop drops the connection, and the role's lock with it
      }
      letGoOfTheRole(e);
      return;
    }
    epochBlocked = false;
    FencingToken t = new FencingToken(schema, key.namespace(), key.name(), epoch);
    token = t;
    metrics.leaderChanged(key.namespace(), key.name());
    log.info("{} is leader of {} with epoch {}", holder, key, epoch);
    notify(true, t);
  }

  /**
   * The epoch row stayed locked past the bound (most likely by a fenced write of a stale leader
   * whose transaction is still open): release the role so that this elector does not hold it
   * without an epoch, and try again after a ping interval.
   */
  private void letGoOfTheRole(SQLException timeout) {
    if (!epochBlocked) {
      boolean lockWait = "55P03".equals(timeout.getSQLState());
      log.warn(
          "{} got the lock of {} but no new epoch within its {} of {} ms: a transaction, likely a"
              + " fenced write of an earlier leader, holds the role's row in {}.leader_epochs;"
              + " released the lock, trying again every {} ms",
          holder,
          key,
          lockWait ? "lock_timeout" : "statement_timeout",
          lockWait ? ping.toMillis() : 2 * ping.toMillis(),
          schema,
          ping.toMillis());
    }
    epochBlocked = true;
    try {
      if (LockSql.call(connection, LockSql.Call.SESSION_UNLOCK, key)) {
        return;
      }
      log.warn("{} was not held by this session when released; dropping the connection", key);
    } catch (SQLException e) {
      log.warn("releasing {} failed; dropping the connection releases it: {}", key, e.toString());
    }
    dropConnection();
  }

  private void stepDown(String why) {
    FencingToken t = token;
    token = null;
    dropConnection();
    if (t != null) {
      metrics.leaderChanged(key.namespace(), key.name());
      log.warn("{} steps down as leader of {} (epoch {}) because {}", holder, key, t.epoch(), why);
      notify(false, t);
    }
  }

  /** Hands the callback to the callback thread, so that the ping thread goes on pinging. */
  private void notify(boolean elected, FencingToken t) {
    try {
      callbacks.execute(() -> callListener(elected, t));
    } catch (RejectedExecutionException e) {
      log.warn(
          "leader listener of {} not told it was {} (epoch {}): the election is closed",
          key,
          elected ? "elected" : "revoked",
          t.epoch());
    }
  }

  private void callListener(boolean elected, FencingToken t) {
    try {
      if (elected) {
        listener.elected(t);
      } else {
        listener.revoked(t);
      }
    } catch (RuntimeException e) {
      log.error(
          "leader listener of {} threw on {} (epoch {})",
          key,
          elected ? "elected" : "revoked",
          t.epoch(),
          e);
    }
  }

  private void dropConnection() {
    Connection c = connection;
    connection = null;
    if (c != null) {
      AdvisoryLocks.closeQuietly(c);
    }
  }

  private void sleep(Duration d) {
    try {
      TimeUnit.MILLISECONDS.sleep(d.toMillis());
    } catch (InterruptedException e) {
      // close() interrupts to end the loop promptly.
    }
  }

  /**
   * Hands leadership over: unlocks, fires revoked (for a leader), closes the connection, and waits
   * up to 10 s for the callbacks still queued or running to finish (not when called from a
   * callback, which would wait for itself).
   */
  @Override
  public void close() {
    synchronized (this) {
      running = false;
    }
    thread.interrupt();
    try {
      thread.join(CLOSE_WAIT.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    FencingToken t = token;
    if (t != null && connection != null) {
      try {
        LockSql.call(connection, LockSql.Call.SESSION_UNLOCK, key);
      } catch (SQLException e) {
        log.debug("unlock on close failed; closing the connection releases it", e);
      }
    }
    if (t != null) {
      stepDown("the elector was closed");
    } else {
      dropConnection();
    }
    callbacks.shutdown();
    if (Thread.currentThread() == callbackThread) {
      return;
    }
    try {
      if (!callbacks.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn(
            "leader listener of {} still busy {} s after close(); not waiting longer",
            key,
            CLOSE_WAIT.toSeconds());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
