package dev.idem.consumer.internal.tx;

import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.util.Set;

/** Classifies failures of the processing transaction. Pure logic, by type and SQLSTATE only. */
public final class Failures {
  /** SQLSTATEs of transient failures: retried after the rollback whatever the user policy says. */
  static final Set<String> TRANSIENT_STATES =
      Set.of("40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "25P03");

  private Failures() {}

  /**
   * Whether {@code failure} (or a cause of it) is a transient database failure: serialization
   * failure, deadlock, lock timeout, admin shutdown, crash shutdown, server starting, too many
   * connections, idle-in-transaction timeout, any connection exception (class 08), or a driver or
   * pool exception marked transient or recoverable (Hikari's {@code
   * SQLTransientConnectionException} may carry no SQLSTATE).
   */
  public static boolean isTransient(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof SQLTransientException || t instanceof SQLRecoverableException) {
        return true;
      }
      if (t instanceof SQLException sql) {
        String state = sql.getSQLState();
        if (state != null && (TRANSIENT_STATES.contains(state) || state.startsWith("08"))) {
          return true;
        }
        for (SQLException next = sql.getNextException();
            next != null;
            next = next.getNextException()) {
          String s = next.getSQLState();
          if (s != null && (TRANSIENT_STATES.contains(s) || s.startsWith("08"))) {
            return true;
          }
        }
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }

  /** The first {@link SQLException} in the cause chain, or null. */
  public static SQLException sqlCause(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof SQLException sql) {
        return sql;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return null;
  }

  /**
   * Whether the VM cannot be trusted to go on after {@code t}: out of memory and internal errors. A
   * stack overflow in a handler is a bug of that record, not of the VM, and is not fatal.
   */
  public static boolean isFatal(Throwable t) {
    return t instanceof VirtualMachineError && !(t instanceof StackOverflowError);
  }
}
