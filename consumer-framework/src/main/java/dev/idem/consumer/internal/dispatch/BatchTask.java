package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.BatchProcessor;
import dev.idem.consumer.internal.tx.Prepared;
import dev.idem.consumer.internal.tx.RecordProcessor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a lane's group as one batch. Records without a valid event id or with an unreadable payload
 * go alone through the record path first (they are dead-lettered). If the batch fails for any
 * reason but an unreachable database, the group falls back to one record at a time through the
 * record path, with its retries and dead letters, so one poison record does not hold back the
 * others.
 */
public final class BatchTask<T> implements Function<List<Work>, Step> {
  private static final Logger log = LoggerFactory.getLogger(BatchTask.class);

  private final RecordProcessor<T> records;
  private final BatchProcessor<T> batches;
  private final RecordTask recordTask;
  private final RetryPolicy retry;
  private final ConsumerMetrics metrics;
  private final Runnable onCrash;

  public BatchTask(
      RecordProcessor<T> records,
      BatchProcessor<T> batches,
      RecordTask recordTask,
      RetryPolicy retry,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    this.records = records;
    this.batches = batches;
    this.recordTask = recordTask;
    this.retry = retry;
    this.metrics = metrics;
    this.onCrash = onCrash;
  }

  @Override
  public Step apply(List<Work> group) {
    if (group.get(0).fallback) {
      return oneByOne(group);
    }
    List<Prepared<T>> prepared = new ArrayList<>(group.size());
    List<Work> batchWorks = new ArrayList<>(group.size());
    for (Work w : group) {
      if (w.done) {
        continue;
      }
      Prepared<T> p = records.prepare(w.record);
      if (p == null) {
        Step alone = recordTask.apply(w);
        if (!alone.done()) {
          return alone;
        }
        w.done = true;
      } else {
        prepared.add(p);
        batchWorks.add(w);
      }
    }
    if (prepared.isEmpty()) {
      return Step.DONE;
    }
    BatchProcessor.Result result;
    try {
      result = batches.process(prepared, group.get(0).attempt);
    } catch (FaultHook.SimulatedCrash crash) {
      onCrash.run();
      return Step.retryAfter(Duration.ofDays(1));
    }
    if (result.committed()) {
      batchWorks.forEach(w -> w.done = true);
      return Step.DONE;
    }
    if (RecordTask.isConnectionFailure(result.failure())) {
      metrics.retry(group.get(0).record.topic());
      Duration delay = retry.delayAfter(3);
      log.warn(
          "database unreachable ({}); retrying the batch in {} ms",
          result.failure(),
          delay.toMillis());
      return Step.retryAfter(delay);
    }
    log.warn(
        "batch of {} records of {} failed ({}); processing them one at a time",
        batchWorks.size(),
        group.get(0).partition,
        result.failure().toString());
    group.forEach(w -> w.fallback = true);
    return oneByOne(group);
  }

  private Step oneByOne(List<Work> group) {
    for (Work w : group) {
      if (w.done) {
        continue;
      }
      Step step = recordTask.apply(w);
      if (!step.done()) {
        return step;
      }
      w.done = true;
    }
    return Step.DONE;
  }
}
