package dev.idem.consumer.internal.tx;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.util.Set;

/**
 * The transaction's connection as handlers see it: everything works except what would end or change
 * idem's transaction behind its back (commit before the mark, release of the lock, a returned
 * connection).
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

  private GuardedConnection(Connection target) {
    this.target = target;
  }

  static Connection wrap(Connection target) {
    return (Connection)
        Proxy.newProxyInstance(
            GuardedConnection.class.getClassLoader(),
            new Class<?>[] {Connection.class},
            new GuardedConnection(target));
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
    if (name.equals("unwrap") || name.equals("isWrapperFor")) {
      // Unwrapping would hand out the unguarded connection.
      if (name.equals("isWrapperFor")) {
        return false;
      }
      throw new java.sql.SQLException("unwrap is not available on idem's transaction connection");
    }
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
