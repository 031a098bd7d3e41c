package dev.idem.lock;

/**
 * Session-scoped locks were refused because consecutive transactions of one connection ran on
 * different server backends: a transaction-mode pooler (such as PgBouncer with {@code
 * pool_mode=transaction}) sits in between, and a session lock would be taken and released on
 * unrelated sessions. Connect session features directly to PostgreSQL, or use transaction-scoped
 * locks.
 */
public class TransactionPoolerException extends LockException {
  private static final long serialVersionUID = 1L;

  public TransactionPoolerException(LockKey key, int firstPid, int secondPid) {
    super(
        key,
        "session locks need a direct connection, but two transactions of one connection ran on"
            + " backends "
            + firstPid
            + " and "
            + secondPid
            + ": a transaction-mode pooler is in between; connect session locks, singleton jobs"
            + " and leader election straight to PostgreSQL",
        null);
  }
}
