package dev.idem.consumer.internal.tx;

import dev.idem.consumer.SqlWork;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.Set;

/**
 * The transaction's connection as handlers see it: everything works except what would end or change
 * idem's transaction behind its back (commit before the mark, release of the lock, a returned
 * connection). Statements, result sets and metadata it hands out are guarded too, so that their
 * {@code getConnection()} and {@code getStatement()} lead back here and never to the raw
 * connection; {@code unwrap} is refused everywhere for the same reason.
 *
 * <p>SQL text is not inspected: a {@code COMMIT} or {@code ROLLBACK} statement is caught after the
 * handler returns, from the transaction state (see {@link
 * dev.idem.internal.jdbc.Transactions#requireOpen}).
 */
final class GuardedConnection implements InvocationHandler {
  private static final Set<String> REFUSED =
      Set.of(
          "commit",
          "rollback",
          "close",
          "setAutoCommit",
          "setTransactionIsolation",
          "abort",
          "setReadOnly");

  private final Connection target;
  private final Connection self;

  private GuardedConnection(Connection target) {
    this.target = target;
    this.self =
        (Connection)
            Proxy.newProxyInstance(
                GuardedConnection.class.getClassLoader(), new Class<?>[] {Connection.class}, this);
  }

  static Connection wrap(Connection target) {
    return new GuardedConnection(target).self;
  }

  /**
   * Runs {@code work} inside a savepoint of {@code c}: on failure only its statements are undone
   * and the exception is rethrown.
   */
  static <R> R withSavepoint(Connection c, SqlWork<R> work) throws SQLException {
    Savepoint savepoint = c.setSavepoint();
    R result;
    try {
      result = work.run(c);
    } catch (SQLException | RuntimeException | Error e) {
      try {
        c.rollback(savepoint);
      } catch (SQLException | RuntimeException rollback) {
        e.addSuppressed(rollback);
      }
      throw e;
    }
    c.releaseSavepoint(savepoint);
    return result;
  }

  @Override
  public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
    String name = method.getName();
    // rollback(Savepoint) is allowed: it does not end the transaction.
    boolean savepointRollback = name.equals("rollback") && args != null && args.length == 1;
    if (REFUSED.contains(name) && !savepointRollback) {
      throw new IllegalStateException(
          "Connection."
              + name
              + " is not allowed in a handler: the transaction belongs to idem, which commits it"
              + " together with the processed mark; throw to roll back");
    }
    Object refused = refuseUnwrap(name);
    if (refused != null) {
      return refused;
    }
    return guard(invokeTarget(target, method, args), method.getReturnType(), null);
  }

  /** Wraps what a guarded object returns when it could lead to the raw connection. */
  private Object guard(Object value, Class<?> type, Object statement) {
    if (value == null) {
      return null;
    }
    if (type == Statement.class
        || type == PreparedStatement.class
        || type == CallableStatement.class
        || type == ResultSet.class
        || type == DatabaseMetaData.class) {
      return Proxy.newProxyInstance(
          GuardedConnection.class.getClassLoader(),
          new Class<?>[] {type},
          new Guarded(value, statement));
    }
    return value;
  }

  private static Object refuseUnwrap(String name) throws SQLException {
    if (name.equals("isWrapperFor")) {
      return false;
    }
    if (name.equals("unwrap")) {
      // Unwrapping would hand out the unguarded connection, directly or through a statement.
      throw new SQLException("unwrap is not available on idem's transaction connection");
    }
    return null;
  }

  private static Object invokeTarget(Object target, Method method, Object[] args) throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  /**
   * A statement, result set or metadata object of the guarded connection. {@code statement} is the
   * guarded statement a result set came from, if known.
   */
  private final class Guarded implements InvocationHandler {
    private final Object target;
    private final Object statement;

    Guarded(Object target, Object statement) {
      this.target = target;
      this.statement = statement;
    }

    @Override
    public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
      String name = method.getName();
      if (name.equals("getConnection") && (args == null || args.length == 0)) {
        return self;
      }
      if (name.equals("getStatement") && (args == null || args.length == 0)) {
        // A result set of a guarded statement leads back to it; others (metadata) get one.
        return statement != null
            ? statement
            : guard(invokeTarget(target, method, args), method.getReturnType(), null);
      }
      Object refused = refuseUnwrap(name);
      if (refused != null) {
        return refused;
      }
      Object result = invokeTarget(target, method, args);
      // Result sets of a statement remember the guarded statement; of metadata, none.
      Object origin = target instanceof Statement ? proxy : null;
      return guard(result, method.getReturnType(), origin);
    }
  }
}
