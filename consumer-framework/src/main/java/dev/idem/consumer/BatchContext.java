package dev.idem.consumer;

import java.sql.Connection;
import java.sql.SQLException;

/** What a batch handler knows about the transaction it runs in. */
public interface BatchContext {

  /** The consumer's name. */
  String consumerName();

  /** The attempt number of this batch (or of the single record, after a fall-back), from 1. */
  int attempt();

  /**
   * The transaction's connection. As for {@link ProcessingContext#connection()}, ending the
   * transaction is idem's: {@code commit}, {@code rollback}, {@code close} and {@code
   * setAutoCommit} throw {@link IllegalStateException}.
   */
  Connection connection();

  /**
   * Runs {@code work} inside a savepoint of the batch's transaction; see {@link
   * ProcessingContext#withSavepoint(SqlWork)}.
   *
   * @return what {@code work} returned
   * @throws SQLException what {@code work} threw, after the rollback to the savepoint
   */
  <R> R withSavepoint(SqlWork<R> work) throws SQLException;
}
