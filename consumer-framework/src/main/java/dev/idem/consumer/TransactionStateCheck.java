package dev.idem.consumer;

/**
 * How idem makes sure, before each {@code COMMIT}, that a handler did not leave its transaction
 * aborted (an SQL error it caught) or ended (a {@code COMMIT} or {@code ROLLBACK} statement): such
 * a commit would silently lose the handler's writes and the processed mark.
 */
public enum TransactionStateCheck {
  /**
   * The default: read pgjdbc's own transaction state on the raw connection, without a round trip.
   * Needs connections that unwrap to pgjdbc's {@code BaseConnection} (HikariCP's and pgjdbc's own
   * do); {@code start()} refuses others, naming {@code consumer.transaction-state-check}.
   */
  DRIVER,
  /**
   * For connections that do not unwrap to pgjdbc's: one {@code SELECT 1} before each commit, which
   * an aborted transaction refuses. It does not see a transaction ended by a {@code COMMIT} or
   * {@code ROLLBACK} statement, and costs a round trip per transaction.
   */
  QUERY
}
