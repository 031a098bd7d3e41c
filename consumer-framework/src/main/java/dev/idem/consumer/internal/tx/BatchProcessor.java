package dev.idem.consumer.internal.tx;

import dev.idem.consumer.BatchContext;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.SqlWork;
import dev.idem.consumer.TransactionMisuseException;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.store.RecordCoordinates;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
public final class BatchProcessor<T> implements GroupTransaction<T> {
  private final TxEnvironment env;
  private final BatchHandler<T> handler;
  private final int maxLocks;

  public BatchProcessor(TxEnvironment env, BatchHandler<T> handler, int maxLocks) {
    this.env = env;
    this.handler = handler;
    this.maxLocks = maxLocks;
  }

  /**
   * Processes read records (in offset order; a batch has no order among keys, so {@code
   * orderingKeys} is not read). Transactions before a failing one stay committed; re-processing
   * their records later finds their marks. A batch finishes all its records or none.
   *
   * @throws FaultHook.SimulatedCrash when a test's fault hook stops the consumer
   */
  @Override
  public GroupRun run(List<Read<T>> items, List<Object> orderingKeys, int attempt) {
    Map<String, Read<T>> distinct = new LinkedHashMap<>();
    // Every record a transaction covers (its index in items), by event id: the copies inside the
    // batch are done when the transaction of their first copy commits.
    Map<String, BitSet> covered = new HashMap<>();
    for (int i = 0; i < items.size(); i++) {
      Read<T> p = items.get(i);
      covered.computeIfAbsent(p.eventId(), id -> new BitSet()).set(i);
      if (distinct.putIfAbsent(p.eventId(), p) != null) {
        env.metrics().duplicate(p.record().topic()); // a copy inside the same batch
      }
    }
    List<Read<T>> unique = new ArrayList<>(distinct.values());
    for (int from = 0; from < unique.size(); from += maxLocks) {
      List<Read<T>> chunk = unique.subList(from, Math.min(unique.size(), from + maxLocks));
      BitSet attempted = new BitSet(items.size());
      for (Read<T> p : chunk) {
        attempted.or(covered.get(p.eventId()));
      }
      List<ConsumerRecord<byte[], byte[]>> records =
          attempted.stream().mapToObj(i -> items.get(i).record()).toList();
      GroupRun run =
          env.observe(
              Unit.batch(records, attempt), () -> transact(chunk, records, attempted, attempt));
      if (!run.committed()) {
        return run;
      }
      for (Read<T> p : chunk) {
        env.faults().afterDatabaseCommit(p.record());
      }
    }
    return GroupRun.allDone();
  }

  /**
   * One transaction over {@code chunk}, whose records (copies included) are those at {@code
   * attempted} in the batch.
   */
  private GroupRun transact(
      List<Read<T>> chunk,
      List<ConsumerRecord<byte[], byte[]>> records,
      BitSet attempted,
      int attempt) {
    Attempted<Set<String>> tx =
        env.transact(Unit.batch(records, attempt), open -> steps(open, chunk, records, attempt));
    if (!tx.ok()) {
      return GroupRun.failed(tx.failure(), attempted);
    }
    for (Read<T> p : chunk) {
      if (tx.value().contains(p.eventId())) {
        env.metrics().processed(p.record().topic());
      } else {
        env.metrics().duplicate(p.record().topic());
      }
    }
    return GroupRun.allDone();
  }

  /** The steps inside one batch transaction; returns the ids marked now (the new events). */
  private Set<String> steps(
      OpenTransaction tx,
      List<Read<T>> chunk,
      List<ConsumerRecord<byte[], byte[]>> records,
      int attempt)
      throws Exception {
    Connection c = tx.connection();
    String topic = chunk.get(0).record().topic();
    long[] lockKeys = new long[chunk.size()];
    List<String> ids = new ArrayList<>(chunk.size());
    List<RecordCoordinates> origins = new ArrayList<>(chunk.size());
    for (int i = 0; i < chunk.size(); i++) {
      Read<T> p = chunk.get(i);
      lockKeys[i] = env.keys().key(env.lockNamespace(), p.eventId());
      ids.add(p.eventId());
      origins.add(RecordCoordinates.of(p.record()));
    }
    long lockStart = System.nanoTime();
    try {
      env.store().beginAndLockAll(c, 1, Arrays.stream(lockKeys).sorted().distinct().toArray());
    } catch (SQLException e) {
      throw EventLockTimeout.whileLocking(
          e, "the event ids of a batch", System.nanoTime() - lockStart);
    }
    env.metrics().lockWait(topic, System.nanoTime() - lockStart);
    List<RecordCoordinates> done = new ArrayList<>(records.size());
    for (ConsumerRecord<byte[], byte[]> r : records) {
      done.add(RecordCoordinates.of(r));
    }
    Set<String> fresh = env.store().markAllIfNew(c, ids, origins, done);
    List<BatchEvent<T>> events = new ArrayList<>(fresh.size());
    for (Read<T> p : chunk) {
      if (fresh.contains(p.eventId())) {
        ConsumerRecord<byte[], byte[]> r = p.record();
        events.add(
            new BatchEvent<>(
                p.payload(),
                p.eventId(),
                r.topic(),
                r.partition(),
                r.offset(),
                r.key(),
                r.headers()));
      }
    }
    if (!events.isEmpty()) {
      env.callHandler(
          tx,
          owner(events),
          topic,
          guarded -> handler.handle(events, new BatchTransactionContext(attempt, guarded)),
          e -> new TransactionMisuseException(RecordProcessor.misuse(e), null));
    }
    return fresh;
  }

  /** The batch handler call of {@code events}, as a use of its expired connection names it. */
  private static String owner(List<? extends BatchEvent<?>> events) {
    BatchEvent<?> first = events.get(0);
    return "the batch of "
        + events.size()
        + " event(s) from "
        + first.topic()
        + "-"
        + first.partition()
        + "@"
        + first.offset()
        + " (first event id "
        + first.eventId()
        + ")";
  }

  private final class BatchTransactionContext implements BatchContext {
    private final int attempt;
    private final Connection connection;

    BatchTransactionContext(int attempt, Connection connection) {
      this.attempt = attempt;
      this.connection = connection;
    }

    @Override
    public String consumerName() {
      return env.consumerName();
    }

    @Override
    public int attempt() {
      return attempt;
    }

    @Override
    public Connection connection() {
      return connection;
    }

    @Override
    public <R> R withSavepoint(SqlWork<R> work) throws SQLException {
      return GuardedConnection.withSavepoint(connection, work);
    }
  }
}
