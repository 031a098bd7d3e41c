package dev.idem.consumer.internal.share;

import dev.idem.consumer.internal.dispatch.FailurePolicy;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.tx.Outcome;
import dev.idem.consumer.internal.tx.RecordAttempts;
import java.time.Duration;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One delivery of one record of a share group, on a worker thread: the same transaction as the
 * consumer-group mode (lock on the event id, check and mark, handler, commit), retried here while
 * the record's acquisition lock lasts, and the acknowledgement that follows.
 *
 * <ul>
 *   <li>Applied, or a copy whose mark exists: {@code ACCEPT}.
 *   <li>A failure the retry policy retries: retried locally after its backoff while the acquisition
 *       lock has room for the backoff; past that {@code RELEASE}, so the broker redelivers it
 *       (maybe to another consumer), unless this is the group's last delivery.
 *   <li>Given up (the policy's attempts, a non-retryable failure, an unreadable record) or the
 *       group's last delivery: written to idem's dead letters, then {@code ACCEPT}. Never {@code
 *       REJECT}, and never released on its last delivery: the broker would archive it without a
 *       trace.
 *   <li>A dead letter that cannot be written (the database is down): {@code RELEASE} before the
 *       last delivery; on the last one the record is held (retried) until its lock runs out.
 * </ul>
 */
final class ShareRecordTask {
  private static final Logger log = LoggerFactory.getLogger(ShareRecordTask.class);

  /** The share of the acquisition lock kept free for the commit and the acknowledgement. */
  private static final double LOCK_MARGIN = 0.2;

  private final String consumerName;
  private final RecordAttempts<?> processor;
  private final FailurePolicy policy;
  private final ConsumerMetrics metrics;
  private final ShareMetrics shareMetrics;
  private final Runnable databaseFailed;

  /**
   * @param databaseFailed told when an attempt could not reach the database, so that the poll loop
   *     stops acquiring at once rather than at the next health probe
   */
  ShareRecordTask(
      String consumerName,
      RecordAttempts<?> processor,
      FailurePolicy policy,
      ConsumerMetrics metrics,
      ShareMetrics shareMetrics,
      Runnable databaseFailed) {
    this.consumerName = consumerName;
    this.processor = processor;
    this.policy = policy;
    this.metrics = metrics;
    this.shareMetrics = shareMetrics;
    this.databaseFailed = databaseFailed;
  }

  /** One record of a poll, run to its acknowledgement. */
  @FunctionalInterface
  interface Delivery {
    /** Processes {@code record} and says how to acknowledge it. */
    AcknowledgeType run(ConsumerRecord<byte[], byte[]> record);
  }

  /**
   * The records of one poll, acquired {@code acquiredAt} ({@link System#nanoTime()}) for {@code
   * lock}, in a group that delivers a record at most {@code deliveryLimit} times.
   */
  Delivery delivery(long acquiredAt, Duration lock, int deliveryLimit) {
    return record -> run(record, acquiredAt, lock, deliveryLimit);
  }

  /**
   * Processes {@code record}, acquired {@code acquiredAt} ({@link System#nanoTime()}) for {@code
   * lock}, in a group that delivers a record at most {@code deliveryLimit} times.
   */
  AcknowledgeType run(
      ConsumerRecord<byte[], byte[]> record, long acquiredAt, Duration lock, int deliveryLimit) {
    try {
      return attempts(record, acquiredAt, lock, deliveryLimit);
    } finally {
      Observations.clearMdc();
    }
  }

  private AcknowledgeType attempts(
      ConsumerRecord<byte[], byte[]> record, long acquiredAt, Duration lock, int deliveryLimit) {
    int delivery = record.deliveryCount().map(Short::intValue).orElse(1);
    if (delivery > 1) {
      shareMetrics.redelivered(record.topic());
    }
    boolean last = delivery >= deliveryLimit;
    long budgetEnd = acquiredAt + (long) (lock.toNanos() * (1 - LOCK_MARGIN));
    long firstReadFailure = 0;
    int attempt = 1;
    int reruns = 0;
    while (true) {
      Outcome outcome = processor.process(record, attempt, null);
      switch (outcome.kind()) {
        case PROCESSED, DUPLICATE, DEAD_LETTERED, PARKED:
          return AcknowledgeType.ACCEPT;
        case UNREADABLE:
          {
            long now = System.nanoTime();
            firstReadFailure = firstReadFailure == 0 ? now : firstReadFailure;
            FailurePolicy.Decision d =
                policy.afterReadFailure(
                    outcome.failure(), attempt, Duration.ofNanos(now - firstReadFailure));
            if (d.action() == FailurePolicy.Action.RETRY && fits(d.delay(), budgetEnd)) {
              sleep(d.delay());
              attempt++;
              continue;
            }
            if (d.action() == FailurePolicy.Action.RETRY && !last) {
              metrics.retry(record.topic());
              return AcknowledgeType.RELEASE;
            }
            return deadLetter(record, outcome, outcome.reason(), attempt, last, budgetEnd);
          }
        default:
          break;
      }
      FailurePolicy.Decision d = policy.afterFailure(outcome.failure(), attempt, reruns);
      if (d.action() == FailurePolicy.Action.WAIT_FOR_DATABASE) {
        databaseFailed.run();
      }
      switch (d.action()) {
        case RERUN:
          reruns++;
          continue;
        case WAIT_FOR_DATABASE:
        case RETRY:
          if (fits(d.delay(), budgetEnd)) {
            sleep(d.delay());
            if (d.action() == FailurePolicy.Action.RETRY) {
              metrics.retry(record.topic());
              attempt++;
            }
            continue;
          }
          if (!last) {
            metrics.retry(record.topic());
            return AcknowledgeType.RELEASE;
          }
          if (d.action() == FailurePolicy.Action.WAIT_FOR_DATABASE) {
            return holdUntilLockEnds(record, outcome, acquiredAt, lock, attempt);
          }
          return deadLetter(record, outcome, "handler-failed", attempt, true, budgetEnd);
        default:
          return deadLetter(record, outcome, "handler-failed", attempt, last, budgetEnd);
      }
    }
  }

  private AcknowledgeType deadLetter(
      ConsumerRecord<byte[], byte[]> record,
      Outcome outcome,
      String reason,
      int attempts,
      boolean last,
      long budgetEnd) {
    while (true) {
      Outcome written =
          processor.deadLetter(
              record, outcome.eventId(), reason, attempts, outcome.failure(), null);
      if (written.kind() != Outcome.Kind.FAILED) {
        return AcknowledgeType.ACCEPT;
      }
      Duration pause = Duration.ofMillis(200);
      if (!last || !fits(pause, budgetEnd)) {
        log.warn(
            "consumer {}: the dead letter of {}-{}@{} (event id {}, trace {}) could not be written"
                + " ({}); released for redelivery",
            consumerName,
            record.topic(),
            record.partition(),
            record.offset(),
            outcome.eventId() == null ? "none" : outcome.eventId(),
            Observations.traceIdForLog(),
            String.valueOf(written.failure()));
        return AcknowledgeType.RELEASE;
      }
      sleep(pause);
    }
  }

  /**
   * The group's last delivery, and the database is down: releasing would let the broker archive the
   * record without a trace, so it is retried until its lock has run out (the broker then archives
   * it too: see docs/share-groups.md; the consumer stops acquiring while the database is down,
   * which keeps this to records already in flight when it went).
   */
  private AcknowledgeType holdUntilLockEnds(
      ConsumerRecord<byte[], byte[]> record,
      Outcome outcome,
      long acquiredAt,
      Duration lock,
      int attempt) {
    long end = acquiredAt + lock.toNanos();
    Outcome last = outcome;
    while (System.nanoTime() < end) {
      sleep(Duration.ofMillis(250));
      last = processor.process(record, attempt, null);
      if (last.kind() == Outcome.Kind.PROCESSED || last.kind() == Outcome.Kind.DUPLICATE) {
        return AcknowledgeType.ACCEPT;
      }
    }
    log.error(
        "consumer {}: giving up on {}-{}@{} (event id {}, trace {}): it failed on the share"
            + " group's last delivery while the database was unreachable ({}); the broker archives"
            + " it when its lock ends",
        consumerName,
        record.topic(),
        record.partition(),
        record.offset(),
        outcome.eventId() == null ? "none" : outcome.eventId(),
        Observations.traceIdForLog(),
        String.valueOf(last.failure()));
    return AcknowledgeType.RELEASE;
  }

  private static boolean fits(Duration delay, long budgetEnd) {
    return System.nanoTime() + delay.toNanos() < budgetEnd;
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(Math.max(1, d.toMillis()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting to retry", e);
    }
  }
}
