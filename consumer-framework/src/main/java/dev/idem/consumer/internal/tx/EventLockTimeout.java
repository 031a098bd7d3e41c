package dev.idem.consumer.internal.tx;

import java.sql.SQLException;
import java.time.Duration;

/**
 * The wait for an event id's advisory lock ran past {@code lock_timeout} (SQLSTATE 55P03): another
 * transaction, applying a copy of the same event, holds the lock. Told apart from a lock timeout of
 * the handler's own statements by where it happened: the statement that takes the event id locks,
 * before any handler ran. Its cause is the driver's exception.
 */
public final class EventLockTimeout extends SQLException {
  private static final long serialVersionUID = 1L;

  /** PostgreSQL's {@code lock_not_available}, which a {@code lock_timeout} raises. */
  static final String LOCK_NOT_AVAILABLE = "55P03";

  private final transient Duration waited;

  private EventLockTimeout(String what, Duration waited, SQLException cause) {
    super(
        "waited "
            + waited.toMillis()
            + " ms for the lock of "
            + what
            + ", held by another transaction: "
            + cause.getMessage(),
        cause.getSQLState(),
        cause);
    this.waited = waited;
  }

  /**
   * {@code failure} of the statement that takes the lock of {@code what} (an event id, or a group's
   * event ids), which had waited {@code waitedNanos}: an {@link EventLockTimeout} when it is a lock
   * timeout, else {@code failure} itself.
   */
  public static SQLException whileLocking(SQLException failure, String what, long waitedNanos) {
    for (SQLException e = failure; e != null; e = e.getNextException()) {
      if (LOCK_NOT_AVAILABLE.equals(e.getSQLState())) {
        return new EventLockTimeout(what, Duration.ofNanos(waitedNanos), failure);
      }
      if (e.getNextException() == e) {
        break;
      }
    }
    return failure;
  }

  /** How long the transaction waited for the lock before it timed out. */
  public Duration waited() {
    return waited;
  }
}
