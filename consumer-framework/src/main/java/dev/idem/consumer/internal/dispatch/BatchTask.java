package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.Failures;
import dev.idem.consumer.internal.tx.GroupRun;
import dev.idem.consumer.internal.tx.GroupTransaction;
import dev.idem.consumer.internal.tx.Read;
import dev.idem.consumer.internal.tx.RecordAttempts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a lane's group as batches (or, in grouped mode, as grouped transactions). A record that
 * cannot be read (no valid event id, the deserializer failed) splits the group: the records before
 * it commit first as a batch, then it goes alone through the record path (retried or dead-lettered
 * there), then the rest; so no record of the partition is applied or dead-lettered ahead of an
 * earlier one. If a batch fails for any reason but an unreachable database, the group falls back to
 * one record at a time through the record path, with its retries and dead letters, so one poison
 * record does not hold back the others. A grouped transaction that committed with records it did
 * not finish (failed, or held back behind a failed record of their key) hands those to the same
 * one-at-a-time path, in offset order.
 *
 * <p>Attempts: a record that failed in its savepoint used up that attempt, and on its turn the
 * record path decides what follows as after a failed run alone (a retry after the backoff, or a
 * dead letter without another run); a record held back behind it was not attempted. A transaction
 * that failed or hung as a whole was an attempt of each of its records, since which one caused it
 * is not known; each of them then runs alone at least once.
 */
public final class BatchTask<T> implements GroupRunner {
  private static final Logger log = LoggerFactory.getLogger(BatchTask.class);

  private final RecordAttempts<T> records;
  private final GroupTransaction<T> batches;
  private final Function<ConsumerRecord<byte[], byte[]>, Object> orderingKeys;
  private final String unit;
  private final RecordPath recordTask;
  private final FailurePolicy policy;
  private final ConsumerMetrics metrics;
  private final Runnable onCrash;

  /**
   * @param orderingKeys a record's ordering key within its group (null: unordered); must not throw
   */
  BatchTask(
      RecordAttempts<T> records,
      GroupTransaction<T> batches,
      Function<ConsumerRecord<byte[], byte[]>, Object> orderingKeys,
      String unit,
      RecordPath recordTask,
      FailurePolicy policy,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    this.records = records;
    this.batches = batches;
    this.orderingKeys = orderingKeys;
    this.unit = unit;
    this.recordTask = recordTask;
    this.policy = policy;
    this.metrics = metrics;
    this.onCrash = onCrash;
  }

  @Override
  public Step apply(List<Work> group) {
    if (group.get(0).fallback) {
      return oneByOne(group);
    }
    List<Read<T>> batch = new ArrayList<>(group.size());
    List<Work> batchWorks = new ArrayList<>(group.size());
    for (Work w : group) {
      if (w.done) {
        continue;
      }
      Read<T> read = records.read(w.record);
      if (read.ok()) {
        w.eventId = read.eventId(); // for a dead letter decided without a run of its own
        batch.add(read);
        batchWorks.add(w);
        continue;
      }
      Step before = runBatch(group, batch, batchWorks);
      if (!before.done() || group.get(0).fallback) {
        return before; // a fall-back ran the whole group, this record included
      }
      batch.clear();
      batchWorks.clear();
      Step alone = recordTask.apply(w);
      if (!alone.done()) {
        return alone;
      }
      w.done = true;
    }
    return runBatch(group, batch, batchWorks);
  }

  /** Runs the read records {@code batch} of {@code group} as one batch (if any). */
  private Step runBatch(List<Work> group, List<Read<T>> batch, List<Work> batchWorks) {
    if (batch.isEmpty()) {
      return Step.DONE;
    }
    Work head = group.get(0);
    List<Object> keys = new ArrayList<>(batchWorks.size());
    for (Work w : batchWorks) {
      keys.add(orderingKeys.apply(w.record));
    }
    GroupRun result;
    try {
      result = batches.run(batch, keys, head.attempt);
    } catch (FaultHook.SimulatedCrash crash) {
      onCrash.run();
      return Step.retryAfter(Duration.ofDays(1));
    }
    if (head.abandoned) {
      return Step.DISCARDED; // the watchdog gave this run up; the lane went on with copies
    }
    if (result.committed()) {
      for (int i = 0; i < batchWorks.size(); i++) {
        batchWorks.get(i).done = !result.unfinished().get(i);
      }
      // A record that failed in its savepoint used up this attempt; the policy decides on its
      // turn in the one-at-a-time pass. One held back behind it was not attempted.
      result.failedAttempts().forEach((i, failure) -> batchWorks.get(i).groupFailure = failure);
      if (result.unfinished().isEmpty()) {
        return Step.DONE;
      }
      log.info(
          "{} of {} records of {} not finished in their {} ({}); processing them one at a time",
          result.unfinished().cardinality(),
          batchWorks.size(),
          head.partition,
          unit,
          String.valueOf(result.firstFailure()));
      group.forEach(w -> w.fallback = true);
      return oneByOne(group);
    }
    Failures.Kind kind = policy.classify(result.failure());
    if (kind == Failures.Kind.LOCK_WAIT) {
      // A copy of one of its events holds that event's lock elsewhere. Nothing ran, so no attempt
      // is used up: one at a time, the others go on and the held one waits for its lock alone.
      log.info(
          "{} of {} records of {} could not take its locks ({}); processing them one at a time",
          unit,
          batchWorks.size(),
          head.partition,
          result.failure().getMessage());
      group.forEach(w -> w.fallback = true);
      return oneByOne(group);
    }
    if (kind == Failures.Kind.CONNECTION) {
      metrics.retry(head.record.topic());
      Duration delay = policy.outageDelay(head.attempt);
      log.warn(
          "database unreachable ({}); retrying the {} in {} ms",
          result.failure(),
          unit,
          delay.toMillis());
      return Step.retryAfter(delay);
    }
    log.warn(
        "{} of {} records of {} failed ({}); processing them one at a time",
        unit,
        batchWorks.size(),
        head.partition,
        result.failure().toString());
    // Which record failed the transaction is not known: it was an attempt of each of its
    // records, and each runs alone next (at least once, even past the policy's attempts: the
    // records beside a poison record must not be given up untried).
    result.failedAttempts().keySet().forEach(i -> nextAttempt(batchWorks.get(i)));
    group.forEach(w -> w.fallback = true);
    return oneByOne(group);
  }

  /** {@code w}'s attempt failed in a transaction of several records; it runs alone next. */
  private void nextAttempt(Work w) {
    w.attempt++;
    metrics.retry(w.record.topic());
  }

  @Override
  public Step abandoned(List<Work> group, HungAttemptException failure) {
    if (!group.get(0).fallback) {
      // Which record of a batch hung is unknown: one at a time, the hung one is retried alone.
      log.warn(
          "{} of {} records of {} hung; processing them one at a time",
          unit,
          group.size(),
          group.get(0).partition);
      for (Work w : group) {
        w.fallback = true;
        if (!w.done) {
          nextAttempt(w); // the hung transaction was an attempt of each record it held
        }
      }
      return Step.retryAfter(Duration.ZERO);
    }
    for (Work w : group) {
      if (!w.done) {
        return recordTask.abandoned(w, failure);
      }
    }
    return Step.retryAfter(Duration.ZERO);
  }

  private Step oneByOne(List<Work> group) {
    for (Work w : group) {
      if (w.done) {
        continue;
      }
      Throwable groupFailure = w.groupFailure;
      w.groupFailure = null;
      Step step =
          groupFailure != null
              ? recordTask.afterGroupFailure(w, groupFailure)
              : recordTask.apply(w);
      if (!step.done()) {
        return step;
      }
      w.done = true;
    }
    return Step.DONE;
  }
}
