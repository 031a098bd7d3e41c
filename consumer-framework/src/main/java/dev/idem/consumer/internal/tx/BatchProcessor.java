package dev.idem.consumer.internal.tx;

import dev.idem.consumer.BatchContext;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.store.IdempotencyStore;
import dev.idem.consumer.internal.store.RecordCoordinates;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Many records, one transaction (batch mode): copies inside the batch are dropped, the advisory
 * locks of the distinct event ids are taken in ascending key order, the processed check and mark
 * run in bulk, the handler gets the new events, one commit. At most {@code maxLocks} ids go into
 * one transaction; a larger batch is split into several transactions, so a batch never fills the
 * server's shared lock table.
 *
 * @param <T> the payload type
 */
public final class BatchProcessor<T> {
  private final String consumerName;
  private final String lockNamespace;
  private final DataSource dataSource;
  private final IdempotencyStore store;
  private final BatchHandler<T> handler;
  private final LockKeyFunction keys;
  private final ConsumerMetrics metrics;
  private final FaultHook faults;
  private final int maxLocks;

  /** What a batch ended with: committed, or the failure of the transaction that failed. */
  public record Result(Throwable failure) {
    public boolean committed() {
      return failure == null;
    }
  }

  public BatchProcessor(
      String consumerName,
      String lockNamespace,
      DataSource dataSource,
      IdempotencyStore store,
      BatchHandler<T> handler,
      LockKeyFunction keys,
      ConsumerMetrics metrics,
      FaultHook faults,
      int maxLocks) {
    this.consumerName = consumerName;
    this.lockNamespace = lockNamespace;
    this.dataSource = dataSource;
    this.store = store;
    this.handler = handler;
    this.keys = keys;
    this.metrics = metrics;
    this.faults = faults;
    this.maxLocks = maxLocks;
  }

  /**
   * Processes prepared records (in offset order). Transactions before a failing one stay committed;
   * re-processing their records later finds their marks.
   *
   * @throws FaultHook.SimulatedCrash when a test's fault hook stops the consumer
   */
  public Result process(List<Prepared<T>> items, int attempt) {
    Map<String, Prepared<T>> distinct = new LinkedHashMap<>();
    // Every record a transaction covers, by event id: the copies inside the batch are done when
    // the transaction of their first copy commits.
    Map<String, List<ConsumerRecord<byte[], byte[]>>> covered = new HashMap<>();
    for (Prepared<T> p : items) {
      covered.computeIfAbsent(p.eventId(), id -> new ArrayList<>(1)).add(p.record());
      if (distinct.putIfAbsent(p.eventId(), p) != null) {
        metrics.duplicate(p.record().topic()); // a copy inside the same batch
      }
    }
    List<Prepared<T>> unique = new ArrayList<>(distinct.values());
    for (int from = 0; from < unique.size(); from += maxLocks) {
      List<Prepared<T>> chunk = unique.subList(from, Math.min(unique.size(), from + maxLocks));
      List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>(chunk.size());
      for (Prepared<T> p : chunk) {
        records.addAll(covered.get(p.eventId()));
      }
      Throwable failure = transact(chunk, records, attempt);
      if (failure != null) {
        return new Result(failure);
      }
      for (Prepared<T> p : chunk) {
        faults.afterDatabaseCommit(p.record());
      }
    }
    return new Result(null);
  }

  private Throwable transact(
      List<Prepared<T>> chunk, List<ConsumerRecord<byte[], byte[]>> records, int attempt) {
    String topic = chunk.get(0).record().topic();
    records.forEach(faults::transactionStarted);
    long start = System.nanoTime();
    try (Connection c = dataSource.getConnection()) {
      boolean autoCommit = c.getAutoCommit();
      if (autoCommit) {
        c.setAutoCommit(false);
      }
      try {
        store.begin(c);
        long[] lockKeys = new long[chunk.size()];
        List<String> ids = new ArrayList<>(chunk.size());
        List<RecordCoordinates> origins = new ArrayList<>(chunk.size());
        for (int i = 0; i < chunk.size(); i++) {
          Prepared<T> p = chunk.get(i);
          lockKeys[i] = keys.key(lockNamespace, p.eventId());
          ids.add(p.eventId());
          origins.add(
              new RecordCoordinates(
                  p.record().topic(), p.record().partition(), p.record().offset()));
        }
        long lockStart = System.nanoTime();
        store.lockAll(c, Arrays.stream(lockKeys).sorted().distinct().toArray());
        metrics.lockWait(topic, System.nanoTime() - lockStart);
        List<RecordCoordinates> done = new ArrayList<>(records.size());
        for (ConsumerRecord<byte[], byte[]> r : records) {
          done.add(new RecordCoordinates(r.topic(), r.partition(), r.offset()));
        }
        Set<String> fresh = store.markAllIfNew(c, ids, origins, done);
        List<BatchEvent<T>> events = new ArrayList<>(fresh.size());
        for (Prepared<T> p : chunk) {
          if (fresh.contains(p.eventId())) {
            events.add(
                new BatchEvent<>(
                    p.payload(),
                    p.eventId(),
                    p.record().topic(),
                    p.record().partition(),
                    p.record().offset(),
                    p.record().key(),
                    p.record().headers()));
          }
        }
        if (!events.isEmpty()) {
          long handlerStart = System.nanoTime();
          try {
            handler.handle(events, new Context(attempt, GuardedConnection.wrap(c)));
          } finally {
            metrics.handlerTime(topic, System.nanoTime() - handlerStart);
          }
        }
        c.commit();
        for (Prepared<T> p : chunk) {
          if (fresh.contains(p.eventId())) {
            metrics.processed(p.record().topic());
          } else {
            metrics.duplicate(p.record().topic());
          }
        }
        return null;
      } catch (Throwable t) {
        try {
          c.rollback();
        } catch (SQLException | RuntimeException e) {
          t.addSuppressed(e);
        }
        if (Failures.isFatal(t)) {
          throw (Error) t;
        }
        metrics.failure(topic);
        return t;
      } finally {
        if (autoCommit) {
          try {
            c.setAutoCommit(true);
          } catch (SQLException e) {
            // A broken connection; the pool discards it.
          }
        }
      }
    } catch (SQLException e) {
      metrics.failure(topic);
      return e;
    } finally {
      metrics.transactionTime(topic, System.nanoTime() - start);
    }
  }

  private final class Context implements BatchContext {
    private final int attempt;
    private final Connection connection;

    Context(int attempt, Connection connection) {
      this.attempt = attempt;
      this.connection = connection;
    }

    @Override
    public String consumerName() {
      return consumerName;
    }

    @Override
    public int attempt() {
      return attempt;
    }

    @Override
    public Connection connection() {
      return connection;
    }
  }
}
