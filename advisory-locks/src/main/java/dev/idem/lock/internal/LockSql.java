package dev.idem.lock.internal;

import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.LockKey;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;

/** The lock toolkit's SQL, all in one place. */
public final class LockSql {
  private LockSql() {}

  /**
   * The statement an operator runs to end the session that holds the session lock {@code key} (a
   * 64-bit key is split into {@code classid} and {@code objid}, with {@code objsubid = 1}), for
   * messages about a holder that is gone while its session is not.
   */
  public static String terminateHolderStatement(LockKey key) {
    return "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = "
        + key.classId()
        + " AND objid = "
        + key.objectId()
        + " AND objsubid = 1";
  }

  /** Which advisory-lock function. */
  public enum Call {
    XACT_LOCK("pg_advisory_xact_lock"),
    XACT_TRY("pg_try_advisory_xact_lock"),
    SESSION_LOCK("pg_advisory_lock"),
    SESSION_TRY("pg_try_advisory_lock"),
    SESSION_UNLOCK("pg_advisory_unlock");

    final String function;

    Call(String function) {
      this.function = function;
    }
  }

  /**
   * Calls the function for {@code key} in the key's form and returns its boolean result (true for
   * the blocking functions, which return void).
   */
  public static boolean call(Connection c, Call call, LockKey key) throws SQLException {
    String sql =
        "SELECT "
            + call.function
            + (key.form() == LockKey.Form.BIGINT ? "(?::bigint)" : "(?::int, ?::int)");
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      if (key.form() == LockKey.Form.BIGINT) {
        ps.setLong(1, key.value());
      } else {
        ps.setInt(1, key.classId());
        ps.setInt(2, key.objectId());
      }
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return call == Call.XACT_LOCK || call == Call.SESSION_LOCK || rs.getBoolean(1);
      }
    }
  }

  /** The current {@code lock_timeout}, as text. */
  public static String lockTimeout(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT current_setting('lock_timeout')")) {
      rs.next();
      return rs.getString(1);
    }
  }

  /** Sets {@code lock_timeout}, for the transaction ({@code local}) or the session. */
  public static void setLockTimeout(Connection c, String value, boolean local) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT set_config('lock_timeout', ?, ?)")) {
      ps.setString(1, value);
      ps.setBoolean(2, local);
      ps.execute();
    }
  }

  /** The milliseconds form PostgreSQL reads, at least 1 ms (0 would mean "no timeout"). */
  public static String millis(Duration d) {
    return Math.max(1, d.toMillis()) + "ms";
  }

  /** The server backend of the connection's current session. */
  public static int backendPid(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /**
   * Settings of a leader's session: TCP keepalives and an idle-session timeout of about three ping
   * intervals, so the server drops a partitioned leader's session (and its lock) on its own.
   */
  public static void leaderSession(Connection c, Duration ping) throws SQLException {
    long seconds = Math.max(1, ping.toSeconds());
    try (Statement s = c.createStatement()) {
      s.execute("SET tcp_keepalives_idle = " + seconds);
      s.execute("SET tcp_keepalives_interval = " + seconds);
      s.execute("SET tcp_keepalives_count = 3");
      s.execute("SET idle_session_timeout = '" + Math.max(1000, 3 * ping.toMillis()) + "ms'");
    }
  }

  /**
   * Starts a new leadership: the epoch grows by one (or starts at 1), in a transaction of its own
   * whose waits are bounded. A fenced write of an earlier leader share-locks the epoch row until
   * its transaction ends; waiting for that is right (no such write commits after the new epoch),
   * but only for {@code lockWait}: a stale leader's transaction may stay open for a long time, and
   * the caller holds the role's lock meanwhile. The statement as a whole gets twice that, and a
   * reply that never comes (a network partition) three times that.
   *
   * @throws SQLException with a state that {@link #isTimeout} recognizes when a bound ran out
   */
  public static long nextEpoch(
      Connection c, String schema, String ns, String name, String holder, Duration lockWait)
      throws SQLException {
    int networkTimeout = c.getNetworkTimeout();
    c.setNetworkTimeout(Runnable::run, (int) Math.min(Integer.MAX_VALUE, 3 * lockWait.toMillis()));
    try {
      return Transactions.standard()
          .on(
              c,
              tx -> {
                try (PreparedStatement ps =
                    tx.prepareStatement(
                        "SELECT set_config('lock_timeout', ?, true),"
                            + " set_config('statement_timeout', ?, true)")) {
                  ps.setString(1, millis(lockWait));
                  ps.setString(2, millis(lockWait.multipliedBy(2)));
                  ps.execute();
                }
                try (PreparedStatement ps =
                    tx.prepareStatement(
                        "INSERT INTO "
                            + schema
                            + ".leader_epochs AS e (namespace, name, epoch, holder)"
                            + " VALUES (?, ?, 1, ?) ON CONFLICT (namespace, name) DO UPDATE"
                            + " SET epoch = e.epoch + 1, holder = EXCLUDED.holder,"
                            + " elected_at = now() RETURNING epoch")) {
                  ps.setString(1, ns);
                  ps.setString(2, name);
                  ps.setString(3, holder);
                  try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                  }
                }
              });
    } catch (SQLException | RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new SQLException("starting a new epoch failed: " + e, e);
    } finally {
      // A network timeout closes the connection; the caller then drops it, and the lock with it.
      if (!c.isClosed()) {
        c.setNetworkTimeout(Runnable::run, networkTimeout);
      }
    }
  }

  /** Whether {@code e} is a {@code lock_timeout} (55P03) or a {@code statement_timeout} (57014). */
  public static boolean isTimeout(SQLException e) {
    return "55P03".equals(e.getSQLState()) || "57014".equals(e.getSQLState());
  }

  /**
   * Whether {@code epoch} is the role's current epoch, locking its row in share mode until the
   * caller's transaction ends (a new leadership waits for the fenced write).
   */
  public static boolean epochIsCurrent(
      Connection c, String schema, String ns, String name, long epoch) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "SELECT 1 FROM "
                + schema
                + ".leader_epochs"
                + " WHERE namespace = ? AND name = ? AND epoch = ? FOR SHARE")) {
      ps.setString(1, ns);
      ps.setString(2, name);
      ps.setLong(3, epoch);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  /** Claims the window starting at {@code windowStart}; false when the job ran in it already. */
  public static boolean claimWindow(
      Connection c, String schema, String job, Instant windowStart, String holder)
      throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "INSERT INTO "
                + schema
                + ".job_windows AS w (job_name, window_start, holder)"
                + " VALUES (?, ?, ?) ON CONFLICT (job_name) DO UPDATE"
                + " SET window_start = EXCLUDED.window_start, ran_at = now(),"
                + " holder = EXCLUDED.holder WHERE w.window_start < EXCLUDED.window_start"
                + " RETURNING 1")) {
      ps.setString(1, job);
      ps.setTimestamp(2, Timestamp.from(windowStart));
      ps.setString(3, holder);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }
}
