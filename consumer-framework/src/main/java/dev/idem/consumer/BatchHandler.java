package dev.idem.consumer;

import java.util.List;

/**
 * The user's code that applies a batch of events in one transaction (batch mode).
 *
 * <p>idem hands it only the new events of a batch, in offset order, after it took their advisory
 * locks (in ascending key order) and wrote their processed marks in bulk; everything written
 * through {@link BatchContext#connection()} commits together with the marks. Copies of an event
 * inside the batch, and events already processed or dead-lettered, are left out.
 *
 * <p>If the batch fails, it is rolled back and its records are processed one by one (each as a
 * batch of one) with the normal retry and dead-letter policy, so one poison record does not hold
 * back the others. The same contract as {@link EventHandler} applies: database effects exactly
 * once, effects outside the database at least once, READ COMMITTED. Handlers whose writes take row
 * locks should take them in a stable order (for example sorted by primary key) so that concurrent
 * batches cannot deadlock; a deadlock (40P01) is retried.
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface BatchHandler<T> {

  /**
   * Applies the new events of a batch.
   *
   * @param events the new events, in offset order, never empty
   * @param context the transaction's connection and the attempt
   * @throws Exception anything; the batch rolls back and falls back to one record at a time
   */
  void handle(List<BatchEvent<T>> events, BatchContext context) throws Exception;
}
