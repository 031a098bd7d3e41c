package dev.idem.consumer;

import java.sql.Connection;

/**
 * Code that takes part in every transaction a handler runs in, called on the worker thread that
 * runs it: the seam for frameworks with a transaction model of their own. idem's Spring Boot
 * starter binds the transaction's connection as Spring's transaction resource through it, so that
 * {@code JdbcTemplate} and {@code @Transactional} services join idem's transaction.
 *
 * <p>The calls of one transaction, all on one thread: for each handler call (one per record, one
 * per batch; in a grouped transaction one per record, each in a savepoint of its own) {@link
 * #beforeHandler}, then {@link #afterHandler} when the handler returned and left the transaction
 * usable, or {@link #handlerFailed} when its work is rolled back; then, once the transaction has
 * ended and its connection is back in the pool, {@link #afterCompletion}. A transaction that skips
 * every record as a duplicate calls no handler, and the hook hears only {@code afterCompletion}.
 *
 * <p>Implementations must be thread-safe (workers run transactions concurrently) and keep their
 * per-transaction state per thread.
 */
public interface TransactionHook {

  /** The hook that does nothing, the default. */
  TransactionHook NONE =
      new TransactionHook() {
        @Override
        public void beforeHandler(String consumerName, Connection connection) {}

        @Override
        public void afterHandler() {}

        @Override
        public void handlerFailed() {}

        @Override
        public void afterCompletion(boolean committed) {}
      };

  /**
   * Before a handler is called.
   *
   * @param consumerName the consumer's name
   * @param connection the transaction's connection, guarded as the handler's is (ending the
   *     transaction on it throws): the same object for every handler call of one transaction (all
   *     the records of a grouped transaction), so that a framework can bind it once as its
   *     transaction's resource. It expires when the transaction's last handler call is over, before
   *     {@code COMMIT}: later uses throw {@link IllegalStateException}. The handler's own {@link
   *     ProcessingContext#connection()} is another guard of the same connection, which expires when
   *     its call is over.
   * @throws Exception to fail the attempt without calling the handler; {@link #handlerFailed}
   *     follows
   */
  void beforeHandler(String consumerName, Connection connection) throws Exception;

  /**
   * After the handler returned and left the transaction open and usable, before its work can
   * commit. The handler's connection still works here (a before-commit callback may use it); it
   * expires when this returns. What this does on the transaction counts as the handler's work: an
   * SQL error it catches leaves the transaction aborted, and the attempt then fails with {@link
   * TransactionMisuseException} (in a grouped transaction, that record alone), as when the handler
   * catches one.
   *
   * @throws Exception to fail the attempt: its work is rolled back (in a grouped transaction, to
   *     its savepoint) and {@link #handlerFailed} follows
   */
  void afterHandler() throws Exception;

  /**
   * The handler's work is being rolled back: the handler or {@link #afterHandler} threw, or the
   * handler (or {@link #afterHandler}) left the transaction ended or aborted. A grouped transaction
   * goes on with its next record; otherwise the transaction rolls back.
   */
  void handlerFailed();

  /**
   * After a transaction ended and its connection was returned to the pool. What this throws is
   * logged and ignored: the transaction's outcome is settled.
   *
   * @param committed whether it committed
   */
  void afterCompletion(boolean committed);
}
