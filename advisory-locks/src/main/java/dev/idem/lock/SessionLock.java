package dev.idem.lock;

import dev.idem.lock.internal.LockSql;
import java.sql.Connection;
import java.sql.SQLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session-scoped advisory lock held on a dedicated driver connection. {@link #close()} unlocks
 * (checking that PostgreSQL really held it) and closes the connection, which releases the lock in
 * any case; use it with try-with-resources. The connection is never a pooled one, so a forgotten
 * lock cannot outlive this handle in a pool.
 */
public final class SessionLock implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SessionLock.class);

  private final LockKey key;
  private final Connection connection;
  private final int backendPid;
  private boolean closed;

  SessionLock(LockKey key, Connection connection, int backendPid) {
    this.key = key;
    this.connection = connection;
    this.backendPid = backendPid;
  }

  /** The key held. */
  public LockKey key() {
    return key;
  }

  /** The server backend holding the lock ({@code pg_locks.pid}). */
  public int backendPid() {
    return backendPid;
  }

  /** The dedicated connection, for work that must run while the lock is held. */
  Connection connection() {
    return connection;
  }

  /** Whether the connection still answers (the lock is held for as long as it does). */
  public boolean isValid() {
    try {
      return !closed && connection.isValid(2);
    } catch (SQLException e) {
      return false;
    }
  }

  /** Releases the lock and closes the connection. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (!LockSql.call(connection, LockSql.Call.SESSION_UNLOCK, key)) {
        log.warn("{} was not held by backend {} when released (session lost?)", key, backendPid);
      }
    } catch (SQLException e) {
      log.warn("unlocking {} failed; closing its connection releases it: {}", key, e.toString());
    } finally {
      try {
        connection.close();
      } catch (SQLException e) {
        log.debug("closing the lock connection failed", e);
      }
    }
  }

  @Override
  public String toString() {
    return "SessionLock[" + key + ", backend " + backendPid + (closed ? ", released" : "") + "]";
  }
}
