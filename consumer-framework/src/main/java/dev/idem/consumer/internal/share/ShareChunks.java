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
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Splits a poll's records into chunks of one partition's records, and runs a chunk on a worker:
 * each record alone through the {@link ShareRecordTask}, or, in batch and grouped mode, the chunk
 * in one transaction through the consumer-group mode's own fall-back logic ({@link
 * Tasks#overGroups}): what the transaction did not finish (it failed, or the whole transaction did)
 * goes the single-record way, retries and dead letters included. Every record's answer is handed on
 * as soon as it is known.
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
   * Runs {@code chunk} once, each record through the {@link ShareRecordTask} unless a transaction
   * over the chunk finished it, and hands every record's answer to {@code answers} as soon as it is
   * known. Stops, answering nothing more, once {@code abandoned} says the watchdog gave the run up.
   *
   * @param works the chunk's records, the objects the watchdog flags when it gives the run up
   */
  void run(
      List<Work> works,
      ShareRecordTask.Delivery delivery,
      BooleanSupplier abandoned,
      BiConsumer<ConsumerRecord<byte[], byte[]>, ShareRecordTask.Answer> answers) {
    if (transaction == null) {
      for (Work w : works) {
        if (abandoned.getAsBoolean()) {
          return;
        }
        answers.accept(w.record(), task.run(w.record(), delivery, abandoned, w.attempt()));
      }
      return;
    }
    Map<Work, Boolean> handed = new IdentityHashMap<>();
    RecordPath alone =
        new RecordPath() {
          @Override
          public Step apply(Work work) {
            answers.accept(
                work.record(), task.run(work.record(), delivery, abandoned, work.attempt()));
            handed.put(work, true);
            return Step.DONE;
          }

          @Override
          public Step afterGroupFailure(Work work, Throwable failure) {
            answers.accept(
                work.record(),
                task.afterGroupFailure(
                    work.record(), delivery, abandoned, work.attempt(), failure));
            handed.put(work, true);
            return Step.DONE;
          }

          @Override
          public Step abandoned(Work work, HungAttemptException failure) {
            // Never called: the share poll loop, not a dispatcher, decides after a hang.
            return Step.DONE;
          }
        };
    // A share group delivers in no order: no record of a chunk waits for another of its key.
    GroupRunner runner =
        Tasks.overGroups(
            processor,
            transaction,
            record -> null,
            size > 1 ? "transaction" : "record",
            alone,
            failures,
            metrics,
            () -> {
              throw new FaultHook.SimulatedCrash("a test's fault hook stopped the share consumer");
            });
    runner.apply(works);
    for (Work w : works) {
      if (abandoned.getAsBoolean()) {
        return;
      }
      if (handed.containsKey(w)) {
        continue;
      }
      // Finished by the chunk's transaction, or left over when it could not reach the database:
      // each of those goes alone, where an outage is waited out within the record's lock.
      answers.accept(
          w.record(),
          w.finished() ? ShareRecordTask.Ack.ACCEPT : task.run(w.record(), delivery, abandoned));
    }
  }
}
