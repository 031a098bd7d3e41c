package dev.idem.consumer.internal.runtime;

import dev.idem.consumer.BatchContext;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.SqlWork;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * A batch handler seen as a handler of one record: after a batch failed, its records are retried
 * one at a time to isolate the poison record, each as a batch of one.
 */
public final class BatchOfOne {
  private BatchOfOne() {}

  /** {@code batch} as the handler of one record. */
  public static <T> EventHandler<T> of(BatchHandler<T> batch) {
    return (payload, ctx) ->
        batch.handle(
            List.of(
                new BatchEvent<>(
                    payload,
                    ctx.eventId(),
                    ctx.topic(),
                    ctx.partition(),
                    ctx.offset(),
                    ctx.key(),
                    ctx.headers())),
            new BatchContext() {
              @Override
              public String consumerName() {
                return ctx.consumerName();
              }

              @Override
              public int attempt() {
                return ctx.attempt();
              }

              @Override
              public Connection connection() {
                return ctx.connection();
              }

              @Override
              public <R> R withSavepoint(SqlWork<R> work) throws SQLException {
                return ctx.withSavepoint(work);
              }
            });
  }
}
