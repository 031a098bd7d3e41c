package dev.idem.consumer;

import java.sql.Connection;
import java.sql.SQLException;
import org.apache.kafka.common.header.Headers;

/**
 * What a handler knows about the record it processes and the transaction it runs in. New accessors
 * may be added; implementations are idem's own.
 */
public interface ProcessingContext {

  /** The consumer's name: processed marks are kept per (consumer name, event id). */
  String consumerName();

  /** The event id: all copies of one event share it. Use it as an idempotency key downstream. */
  String eventId();

  /** The record's topic. */
  String topic();

  /** The record's partition. */
  int partition();

  /** The record's offset. */
  long offset();

  /** The record's timestamp in epoch milliseconds. */
  long timestamp();

  /** The record's key bytes, or null. */
  byte[] key();

  /** The record's headers (read-only). */
  Headers headers();

  /** The attempt number, starting at 1. */
  int attempt();

  /**
   * The transaction's connection. The transaction is idem's: {@code commit}, {@code rollback},
   * {@code close}, {@code setAutoCommit} and changes of isolation throw {@link
   * IllegalStateException}. Savepoints are allowed.
   *
   * <p>It belongs to this handler call. Once the handler has returned and its before-commit work (a
   * transaction hook's, such as Spring's {@code beforeCommit} callbacks) has run, it expires, with
   * the statements and result sets it created: any later use, from a thread the handler started and
   * did not wait for, say, throws {@link IllegalStateException} naming this event id, and nothing
   * of it reaches the database ({@code close()} does nothing then). A use still running when it
   * expires is waited for, and an SQL error it caught fails this attempt.
   */
  Connection connection();

  /**
   * Runs {@code work} inside a savepoint of the transaction, for a statement that may fail while
   * the handler carries on (a best-effort audit row, an insert that may hit a unique key). If
   * {@code work} throws, what it did is rolled back to the savepoint, the transaction stays usable,
   * and the exception is rethrown for the handler to catch. Catching an SQL error without a
   * savepoint leaves the transaction aborted: idem then fails the attempt with {@link
   * TransactionMisuseException} rather than lose the event.
   *
   * @return what {@code work} returned
   * @throws SQLException what {@code work} threw, after the rollback to the savepoint
   */
  <R> R withSavepoint(SqlWork<R> work) throws SQLException;
}
