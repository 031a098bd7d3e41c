package dev.idem.consumer.internal.tx;

import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientConnectionException;
import java.sql.SQLTransientException;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The one classification of failures of the processing transaction, by type and SQLSTATE only
 * (never by message text). Pure logic.
 */
public final class Failures {

  /** What a failure means for the record that met it. */
  public enum Kind {
    /** The VM cannot be trusted to go on (out of memory, internal error): stop the consumer. */
    FATAL,
    /**
     * The database is unreachable (lost connection, server starting or shutting down, too many
     * connections, pool timeout): not the record's fault, so no attempt is used up.
     */
    CONNECTION,
    /**
     * A transient failure of this transaction (serialization failure, deadlock, lock timeout,
     * idle-in-transaction timeout): retried, using up an attempt.
     */
    TRANSIENT,
    /**
     * The wait for the event id's advisory lock timed out ({@link EventLockTimeout}): a copy of the
     * event is being applied elsewhere. Waited out, using up no attempt, while the wait is within
     * its allowance; past it, like {@link #TRANSIENT}.
     */
    LOCK_WAIT,
    /** Another path wrote the processed mark first (its unique key): re-run, it is a duplicate. */
    KEY_RACE,
    /** Anything else, the handler's own failures among them: the retry policy decides. */
    USER
  }

  /** Class 08 and these: the server cannot be reached or cannot take the session now. */
  private static final Set<String> CONNECTION_STATES = Set.of("57P01", "57P02", "57P03", "53300");

  /** Transient failures of one transaction, retried whatever the user's classifier says. */
  private static final Set<String> TRANSIENT_STATES = Set.of("40001", "40P01", "55P03", "25P03");

  private Failures() {}

  /**
   * Classifies {@code failure} (looking through causes and chained SQL exceptions). {@code
   * isKeyRace} tells a unique violation of the processed-ids key from other SQL errors.
   */
  public static Kind classify(Throwable failure, Predicate<SQLException> isKeyRace) {
    if (failure == null) {
      return Kind.USER;
    }
    if (isFatal(failure)) {
      return Kind.FATAL;
    }
    boolean transientFailure = false;
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof SQLTransientConnectionException || t instanceof SQLRecoverableException) {
        return Kind.CONNECTION;
      }
      if (t instanceof EventLockTimeout) {
        return Kind.LOCK_WAIT;
      }
      if (t instanceof SQLException sql) {
        for (SQLException e = sql; e != null; e = e.getNextException()) {
          String state = e.getSQLState();
          if (state == null) {
            continue;
          }
          if (state.startsWith("08") || CONNECTION_STATES.contains(state)) {
            return Kind.CONNECTION;
          }
          if (TRANSIENT_STATES.contains(state)) {
            transientFailure = true;
          }
          if ("23505".equals(state) && isKeyRace.test(e)) {
            return Kind.KEY_RACE;
          }
          if (e.getNextException() == e) {
            break;
          }
        }
        if (t instanceof SQLTransientException) {
          transientFailure = true;
        }
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return transientFailure ? Kind.TRANSIENT : Kind.USER;
  }

  /** {@link #classify} for callers that have no processed-ids key. */
  public static Kind classify(Throwable failure) {
    return classify(failure, e -> false);
  }

  /**
   * Whether the VM cannot be trusted to go on after {@code t}: out of memory and internal errors. A
   * stack overflow in a handler is a bug of that record, not of the VM, and is not fatal.
   */
  public static boolean isFatal(Throwable t) {
    return t instanceof VirtualMachineError && !(t instanceof StackOverflowError);
  }

  /** Rethrows {@code t} when it is {@linkplain #isFatal fatal}. */
  public static void rethrowIfFatal(Throwable t) {
    if (isFatal(t)) {
      throw (Error) t;
    }
  }
}
