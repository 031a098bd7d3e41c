package dev.idem.consumer.internal.share;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.dispatch.GroupRunner;
import dev.idem.consumer.internal.dispatch.HungAttemptException;
import dev.idem.consumer.internal.dispatch.RecordPath;
import dev.idem.consumer.internal.dispatch.Step;
import dev.idem.consumer.internal.dispatch.Tasks;
import dev.idem.consumer.internal.dispatch.Work;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.GroupTransaction;
import dev.idem.consumer.internal.tx.RecordAttempts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Splits a poll's records into chunks of one partition's records, and runs a chunk on a worker:
 * each record alone through the {@link ShareRecordTask}, or, in batch and grouped mode, the chunk
 * in one transaction through the consumer-group mode's own fall-back logic ({@link
 * Tasks#overGroups}): what the transaction did not finish (it failed, or the whole transaction did)
 * goes the single-record way, retries and dead letters included. Every record's acknowledgement is
 * handed on as soon as it is known.
 *
 * @param <T> the payload type
 */
final class ShareChunks<T> {
  private final RecordAttempts<T> processor;
  private final ShareRecordTask task;
  private final GroupTransaction<T> transaction;
  private final int size;
  private final Tasks.FailureSettings failures;
  private final ConsumerMetrics metrics;

  /**
   * @param task runs one record to its acknowledgement
   * @param transaction the transaction over a chunk, or null when each record is its own
   * @param size the most records of a partition in one chunk
   */
  ShareChunks(
      RecordAttempts<T> processor,
      ShareRecordTask task,
      GroupTransaction<T> transaction,
      int size,
      Tasks.FailureSettings failures,
      ConsumerMetrics metrics) {
    this.processor = processor;
    this.task = task;
    this.transaction = transaction;
    this.size = size;
    this.failures = failures;
    this.metrics = metrics;
  }

  /**
   * The records of one poll, acquired {@code acquiredAt} ({@link System#nanoTime()}) for {@code
   * lock}, in a group that delivers a record at most {@code deliveryLimit} times.
   */
  ShareRecordTask.Delivery delivery(long acquiredAt, Duration lock, int deliveryLimit) {
    return task.delivery(acquiredAt, lock, deliveryLimit);
  }

  /** {@code records} (in poll order) cut into chunks of one partition's consecutive records. */
  List<List<ConsumerRecord<byte[], byte[]>>> split(List<ConsumerRecord<byte[], byte[]>> records) {
    List<List<ConsumerRecord<byte[], byte[]>>> chunks = new ArrayList<>();
    List<ConsumerRecord<byte[], byte[]>> chunk = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      if (!chunk.isEmpty()
          && (chunk.size() == size
              || !chunk.get(0).topic().equals(r.topic())
              || chunk.get(0).partition() != r.partition())) {
        chunks.add(chunk);
        chunk = new ArrayList<>();
      }
      chunk.add(r);
    }
    if (!chunk.isEmpty()) {
      chunks.add(chunk);
    }
    return chunks;
  }

  /**
   * Runs {@code chunk} once, each record through {@code single} unless a transaction over the chunk
   * finished it, and hands every record's acknowledgement to {@code acknowledged}.
   *
   * @param single one record alone: retried within its lock, then acknowledged
   */
  void run(
      List<ConsumerRecord<byte[], byte[]>> chunk,
      ShareRecordTask.Delivery single,
      BiConsumer<ConsumerRecord<byte[], byte[]>, AcknowledgeType> acknowledged) {
    if (transaction == null) {
      chunk.forEach(r -> acknowledged.accept(r, single.run(r)));
      return;
    }
    Map<Work, Boolean> handed = new IdentityHashMap<>();
    RecordPath alone =
        new RecordPath() {
          @Override
          public Step apply(Work work) {
            acknowledged.accept(work.record(), single.run(work.record()));
            handed.put(work, true);
            return Step.DONE;
          }

          @Override
          public Step abandoned(Work work, HungAttemptException failure) {
            // Share attempts are not watched yet: nothing abandons them.
            return Step.DONE;
          }
        };
    List<Work> works = new ArrayList<>(chunk.size());
    for (ConsumerRecord<byte[], byte[]> r : chunk) {
      works.add(new Work(r, new TopicPartition(r.topic(), r.partition()), 0, null));
    }
    // A share group delivers in no order: no record of a chunk waits for another of its key.
    GroupRunner runner =
        Tasks.overGroups(
            processor,
            transaction,
            record -> null,
            size > 1 && transaction != null ? "transaction" : "record",
            alone,
            failures,
            metrics,
            () -> {
              throw new FaultHook.SimulatedCrash("a test's fault hook stopped the share consumer");
            });
    runner.apply(works);
    for (Work w : works) {
      if (handed.containsKey(w)) {
        continue;
      }
      // Finished by the chunk's transaction, or left over when it could not reach the database:
      // each of those goes alone, where an outage is waited out within the record's lock.
      acknowledged.accept(
          w.record(), w.finished() ? AcknowledgeType.ACCEPT : single.run(w.record()));
    }
  }
}
