package dev.idem.internal.jdbc;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Objects;
import javax.sql.DataSource;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.TransactionState;

/**
 * The one shape of every transaction idem runs: borrow a connection, run an explicit transaction
 * whatever the pool's auto-commit setting, make sure the transaction can still commit what it did,
 * commit or roll back, restore the connection's auto-commit, give it back.
 *
 * <p>Why the check before {@code COMMIT}: after an error that the body caught (a handler that
 * "ignores" a unique violation or a statement timeout), PostgreSQL has aborted the transaction, and
 * pgjdbc's {@code Connection.commit()} then returns normally although the server answered {@code
 * ROLLBACK}. Everything the transaction wrote would be gone while the caller believes it committed.
 * Such a transaction fails here with {@link TransactionStateException} instead.
 *
 * <p>Failures keep their original type: a failing rollback or restore is added as suppressed to the
 * body's exception, never in its place.
 */
public final class Transactions {

  /** How the template learns whether a transaction is still open and healthy. */
  public enum StateCheck {
    /**
     * Read pgjdbc's own transaction state from the raw connection ({@code
     * BaseConnection.getTransactionState()}): no round trip. Needs a connection that unwraps to
     * pgjdbc's.
     */
    DRIVER,
    /**
     * One {@code SELECT 1} before {@code COMMIT}, which an aborted transaction refuses: for
     * connections that do not unwrap to pgjdbc's. Cannot see a transaction ended by SQL.
     */
    QUERY
  }

  /** What the server says about the connection's transaction. */
  public enum State {
    /** Inside a transaction that can commit. */
    OPEN,
    /** Inside a transaction that an error aborted: only a rollback is possible. */
    FAILED,
    /** Outside any transaction: none was begun, or one was ended by SQL. */
    IDLE
  }

  /** Work inside a transaction. */
  @FunctionalInterface
  public interface Work<T> {
    T run(Connection connection) throws Exception;
  }

  private static final Transactions DRIVER = new Transactions(StateCheck.DRIVER);
  private static final Transactions QUERY = new Transactions(StateCheck.QUERY);

  private final StateCheck check;

  private Transactions(StateCheck check) {
    this.check = check;
  }

  /**
   * The template for transactions that run only idem's own statements: the driver's state is read
   * when the connection unwraps to pgjdbc's, and nothing is checked otherwise (no user code ran
   * that could have caught an error).
   */
  public static Transactions standard() {
    return DRIVER;
  }

  /** The template with the given state check. */
  public static Transactions checking(StateCheck check) {
    return Objects.requireNonNull(check, "check") == StateCheck.DRIVER ? DRIVER : QUERY;
  }

  /** The state check this template uses. */
  public StateCheck check() {
    return check;
  }

  /**
   * Runs {@code work} in one transaction on a connection of {@code dataSource} and commits; rolls
   * back and rethrows when anything throws.
   *
   * @throws TransactionStateException when the transaction was aborted by an error the work caught
   */
  public <T> T run(DataSource dataSource, Work<T> work) throws Exception {
    Connection c = dataSource.getConnection();
    Throwable primary = null;
    try {
      return on(c, work);
    } catch (Throwable t) {
      primary = t;
      throw t;
    } finally {
      close(c, primary);
    }
  }

  /**
   * Like {@link #run}, on a connection the caller owns and closes. The connection's auto-commit
   * setting is restored afterwards.
   */
  public <T> T on(Connection c, Work<T> work) throws Exception {
    boolean autoCommit = c.getAutoCommit();
    if (autoCommit) {
      c.setAutoCommit(false);
    }
    Throwable primary = null;
    try {
      T result = work.run(c);
      requireNotFailed(c);
      c.commit();
      return result;
    } catch (Throwable t) {
      primary = t;
      rollback(c, t);
      throw t;
    } finally {
      if (autoCommit) {
        restoreAutoCommit(c, primary);
      }
    }
  }

  /**
   * The state of the connection's transaction, from the driver when it can tell without a round
   * trip; null when the connection does not unwrap to pgjdbc's.
   */
  public static State driverState(Connection c) throws SQLException {
    if (!c.isWrapperFor(BaseConnection.class)) {
      return null;
    }
    TransactionState state = c.unwrap(BaseConnection.class).getTransactionState();
    return switch (state) {
      case OPEN -> State.OPEN;
      case FAILED -> State.FAILED;
      case IDLE -> State.IDLE;
    };
  }

  /** Whether this template can check connections of {@code c}'s kind. */
  public boolean canCheck(Connection c) throws SQLException {
    return check == StateCheck.QUERY || driverState(c) != null;
  }

  /**
   * Fails when the transaction was aborted by an error that its work caught.
   *
   * @throws TransactionStateException with state {@link State#FAILED}
   */
  public void requireNotFailed(Connection c) throws SQLException {
    if (check == StateCheck.DRIVER) {
      // A connection that does not unwrap cannot be checked without a round trip; consumers refuse
      // such pools at start unless told to check with a query.
      State state = driverState(c);
      if (state == State.FAILED) {
        throw new TransactionStateException(State.FAILED);
      }
      return;
    }
    try (Statement s = c.createStatement()) {
      s.execute("SELECT 1");
    } catch (SQLException e) {
      if ("25P02".equals(e.getSQLState())) {
        throw new TransactionStateException(State.FAILED, e);
      }
      throw e;
    }
  }

  /**
   * Fails when the transaction is no longer the one that was begun: aborted by a caught error, or
   * ended by a {@code COMMIT}, {@code ROLLBACK} or {@code END} statement. The second needs the
   * driver's state; with {@link StateCheck#QUERY} only the first is seen.
   *
   * @throws TransactionStateException with the state found
   */
  public void requireOpen(Connection c) throws SQLException {
    if (check == StateCheck.DRIVER) {
      State state = driverState(c);
      if (state == State.IDLE || state == State.FAILED) {
        throw new TransactionStateException(state);
      }
    }
    requireNotFailed(c);
  }

  private static void rollback(Connection c, Throwable cause) {
    try {
      c.rollback();
    } catch (SQLException | RuntimeException e) {
      // The connection is probably broken; the pool discards it. Keep the first failure.
      cause.addSuppressed(e);
    }
  }

  private static void restoreAutoCommit(Connection c, Throwable primary) {
    try {
      c.setAutoCommit(true);
    } catch (SQLException | RuntimeException e) {
      // A broken connection, which the pool discards; it must not hide what happened before.
      if (primary != null) {
        primary.addSuppressed(e);
      }
    }
  }

  private static void close(Connection c, Throwable primary) {
    try {
      c.close();
    } catch (SQLException | RuntimeException e) {
      // After a commit the work is done whatever close says; after a failure, keep the failure.
      if (primary != null) {
        primary.addSuppressed(e);
      }
    }
  }

  /** The transaction cannot commit what its work did. */
  public static final class TransactionStateException extends SQLException {
    private static final long serialVersionUID = 1L;
    private final State state;

    TransactionStateException(State state) {
      this(state, null);
    }

    TransactionStateException(State state, Throwable cause) {
      super(
          state == State.FAILED
              ? "the transaction was aborted by an SQL error that was caught; COMMIT would roll it"
                  + " back"
              : "the transaction was ended by a COMMIT, ROLLBACK or END statement",
          "25000",
          cause);
      this.state = state;
    }

    /** What was found: {@link State#FAILED} or {@link State#IDLE}. */
    public State state() {
      return state;
    }
  }
}
