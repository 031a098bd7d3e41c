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
import java.util.concurrent.locks.ReentrantReadWriteLock;

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
 *
 * <p>A guarded connection belongs to one handler call (or, handed to the transaction hook, to one
 * transaction) and {@linkplain #expire() expires} when that is over: from then on it, and every
 * statement, result set and metadata object it handed out, throws {@link IllegalStateException}
 * naming its owner (closing stays allowed and does nothing). A thread the handler started and did
 * not wait for thus cannot write into a later record's savepoint, outside any transaction, or just
 * before {@code COMMIT}. Only the guard expires, never the connection idem commits on.
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
  private final String owner;
  private final Connection self;
  // Uses take the read lock, expiry the write lock: once expire() returns, no use is in flight.
  private final ReentrantReadWriteLock uses = new ReentrantReadWriteLock();
  private volatile boolean expired;
  private volatile boolean returned;
  private volatile boolean usedAfterReturn;

  private GuardedConnection(Connection target, String owner) {
    this.target = target;
    this.owner = owner;
    this.self =
        (Connection)
            Proxy.newProxyInstance(
                GuardedConnection.class.getClassLoader(), new Class<?>[] {Connection.class}, this);
  }

  /**
   * A guard of {@code target} for {@code owner}, which the exception of a use after expiry names
   * ("event id e-1 (orders-3@1234)").
   */
  static GuardedConnection wrap(Connection target, String owner) {
    return new GuardedConnection(target, owner);
  }

  /** The guarded connection. */
  Connection connection() {
    return self;
  }

  /** The handler returned: uses from now on are noted ({@link #expire()} tells of them). */
  void handlerReturned() {
    returned = true;
  }

  /**
   * Refuses every later use of the connection and of what it handed out, and waits for uses in
   * flight to end (a statement a leaked thread is running). Idempotent.
   *
   * @return whether it was used after {@link #handlerReturned()}: by the hook's before-commit work
   *     or by a thread that outlived the handler; what they did may have aborted the transaction
   */
  boolean expire() {
    uses.writeLock().lock();
    try {
      expired = true;
      return usedAfterReturn;
    } finally {
      uses.writeLock().unlock();
    }
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
    return use(proxy, method, args, this::invokeConnection);
  }

  private Object invokeConnection(Object proxy, Method method, Object[] args) throws Throwable {
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

  /** A call of a guarded object's method. */
  @FunctionalInterface
  private interface Call {
    Object run(Object proxy, Method method, Object[] args) throws Throwable;
  }

  /**
   * Runs {@code call} unless the guard expired; the methods of {@code Object} always run. After
   * expiry {@code close()} does nothing (the pool closes what was left open when idem gives the
   * connection back), {@code isClosed()} is true and everything else throws.
   */
  private Object use(Object proxy, Method method, Object[] args, Call call) throws Throwable {
    if (method.getDeclaringClass() == Object.class) {
      return invokeTarget(targetOf(proxy), method, args);
    }
    uses.readLock().lock();
    try {
      if (expired) {
        return expiredUse(method);
      }
      return call.run(proxy, method, args);
    } finally {
      if (returned) {
        usedAfterReturn = true;
      }
      uses.readLock().unlock();
    }
  }

  private Object targetOf(Object proxy) {
    return Proxy.getInvocationHandler(proxy) instanceof Guarded g ? g.target : target;
  }

  private Object expiredUse(Method method) {
    boolean noArgs = method.getParameterCount() == 0;
    if (noArgs && method.getName().equals("close")) {
      return null;
    }
    if (noArgs && method.getName().equals("isClosed")) {
      return true;
    }
    throw new IllegalStateException(
        "idem's transaction connection of "
            + owner
            + " was used after it expired ("
            + method.getDeclaringClass().getSimpleName()
            + "."
            + method.getName()
            + "): a handler's connection, with the statements and result sets it created,"
            + " expires once the handler has returned and its before-commit work has run (the"
            + " transaction hook's, once the transaction's last handler call is over). Finish the"
            + " work before the handler returns (wait for the threads you start), or do it after"
            + " the commit on a connection of your own");
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
      return use(proxy, method, args, this::invokeGuarded);
    }

    private Object invokeGuarded(Object proxy, Method method, Object[] args) throws Throwable {
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
