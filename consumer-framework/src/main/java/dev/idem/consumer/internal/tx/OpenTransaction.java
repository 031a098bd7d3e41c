package dev.idem.consumer.internal.tx;

import java.sql.Connection;

/**
 * A processing transaction while its steps run: its connection, and the guarded connection its
 * {@link dev.idem.consumer.TransactionHook} is given. The hook gets one guard for the whole
 * transaction, because a framework binds the first connection it is given as its transaction's
 * resource for every handler call of the transaction (the records of a grouped transaction among
 * them); each handler gets a guard of its own, which expires when its call is over.
 */
public final class OpenTransaction {
  private final Connection connection;
  private final String owner;
  private GuardedConnection forHook;

  /**
   * @param owner what the hook's guard names when it is used after the transaction's steps ended
   */
  OpenTransaction(Connection connection, String owner) {
    this.connection = connection;
    this.owner = owner;
  }

  /** The transaction's connection, unguarded: for idem's own statements only. */
  public Connection connection() {
    return connection;
  }

  /** The guarded connection the hook is given, the same for every handler call. */
  Connection forHook() {
    if (forHook == null) {
      forHook = GuardedConnection.wrap(connection, owner);
    }
    return forHook.connection();
  }

  /**
   * The steps ended: the hook's guard expires (waiting for a use in flight), before the state check
   * and {@code COMMIT}.
   */
  void stepsEnded() {
    if (forHook != null) {
      forHook.expire();
    }
  }
}
