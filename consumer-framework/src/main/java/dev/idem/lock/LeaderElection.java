package dev.idem.lock;

import dev.idem.lock.internal.LockMetrics;
import dev.idem.lock.internal.LockSql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
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
 */
public final class LeaderElection implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(LeaderElection.class);

  private final AdvisoryLocks locks;
  private final LockKey key;
  private final Duration ping;
  private final LeaderListener listener;
  private final LockMetrics metrics;
  private final String schema;
  private final String holder;
  private final Thread thread;
  private volatile boolean running;
  private volatile FencingToken token;
  private Connection connection;

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
    this.thread = new Thread(this::loop, "idem-leader-" + key.namespace() + "-" + key.name());
    thread.setDaemon(true);
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

  /** Whether this elector is leader now. */
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
    long epoch = LockSql.nextEpoch(connection, schema, key.namespace(), key.name(), holder);
    FencingToken t = new FencingToken(schema, key.namespace(), key.name(), epoch);
    token = t;
    metrics.leaderChanged(key.namespace(), key.name());
    log.info("{} is leader of {} with epoch {}", holder, key, epoch);
    notify(true, t);
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

  private void notify(boolean elected, FencingToken t) {
    try {
      if (elected) {
        listener.elected(t);
      } else {
        listener.revoked(t);
      }
    } catch (RuntimeException e) {
      log.error("leader listener of {} threw", key, e);
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

  /** Hands leadership over: unlocks, fires revoked, closes the connection. */
  @Override
  public void close() {
    synchronized (this) {
      running = false;
    }
    thread.interrupt();
    try {
      thread.join(10_000);
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
  }
}
