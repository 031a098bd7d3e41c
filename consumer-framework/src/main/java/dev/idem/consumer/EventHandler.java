package dev.idem.consumer;

/**
 * The user's code that applies one event.
 *
 * <p>It runs inside the transaction that holds the event's advisory lock and will write its
 * processed mark. Write every database effect through {@link ProcessingContext#connection()}: it is
 * the transaction's connection, and what is written through it commits or rolls back together with
 * the mark, so it happens exactly once per (consumer name, event id). Do not take a second
 * connection from the same pool: with the pool at its limit that deadlocks.
 *
 * <p>Effects outside the database (an HTTP call, an email) happen <b>at least once</b>: a crash
 * after such a call and before the commit repeats it. Pass {@link ProcessingContext#eventId()} on
 * as an idempotency key where the other side accepts one.
 *
 * <p>The transaction runs at READ COMMITTED: handlers that touch rows other handlers touch
 * concurrently use atomic updates ({@code SET balance = balance + ?}) or {@code SELECT ... FOR
 * UPDATE}.
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface EventHandler<T> {

  /**
   * Applies one event. Throwing rolls the transaction back; the record is then retried according to
   * the consumer's retry policy.
   *
   * @param event the deserialized payload
   * @param context the record, its event id, the attempt number and the transaction's connection
   * @throws Exception anything; it rolls back the transaction
   */
  void handle(T event, ProcessingContext context) throws Exception;
}
