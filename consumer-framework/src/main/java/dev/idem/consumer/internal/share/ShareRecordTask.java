package dev.idem.consumer.internal.share;

import dev.idem.consumer.internal.dispatch.FailurePolicy;
import dev.idem.consumer.internal.dispatch.HungAttemptException;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.tx.Outcome;
import dev.idem.consumer.internal.tx.RecordAttempts;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One delivery of one record of a share group, on a worker thread: the same transaction as the
 * consumer-group mode (lock on the event id, check and mark, handler, commit), retried here while
 * the record's first acquisition lock has room, and the acknowledgement that follows.
 *
 * <ul>
 *   <li>Applied, or a copy whose mark exists: {@code ACCEPT}.
 *   <li>A failure the retry policy retries: retried locally after its backoff while 80% of the
 *       record's acquisition lock (from its acquisition) has room for the backoff; past that {@code
 *       RELEASE}, so the broker redelivers it (maybe to another consumer), unless this is the
 *       group's last delivery.
 *   <li>Given up (the policy's attempts, a non-retryable failure, an unreadable record) or a
 *       failure on the group's last delivery: written to idem's dead letters, then {@code ACCEPT}.
 *   <li>A dead letter that cannot be written: {@code RELEASE} before the last delivery (the next
 *       delivery writes it); on the last delivery the write is tried again, with backoff, until it
 *       is written or the consumer closes. The write takes the event's advisory lock and inserts
 *       only where no processed mark exists, so an earlier delivery that finally commits makes it a
 *       duplicate, not a dead letter.
 *   <li>The database down on the last delivery: the record is tried again, with the outage backoff,
 *       until it is applied (or given up and dead-lettered) or the consumer closes.
 * </ul>
 *
 * Never {@code REJECT}, and never released on its last delivery: the broker would archive it
 * without a trace. The last delivery is judged by the group's delivery limit as the broker has it
 * now ({@link LiveGroupSettings}), read again before a record is released. Waits longer than a
 * backoff within the lock are not slept on a worker: they come back as {@link Later}, which the
 * poll loop runs again after the pause, so one record's retries never hold a worker the others
 * need.
 */
final class ShareRecordTask {
  private static final Logger log = LoggerFactory.getLogger(ShareRecordTask.class);

  /** The share of the acquisition lock kept free for the commit and the acknowledgement. */
  private static final double LOCK_MARGIN = 0.2;

  /** The dead-letter reason of a record whose attempt hung until the watchdog gave it up. */
  static final String HANDLER_TIMEOUT = "handler-timeout";

  /** The MDC key of the record's delivery count. */
  static final String MDC_DELIVERY = "idem.delivery_count";

  /** What a run of a record ends with. */
  sealed interface Answer permits Ack, Later, Dropped {}

  /** Acknowledge the record with {@code type}. */
  record Ack(AcknowledgeType type) implements Answer {
    static final Ack ACCEPT = new Ack(AcknowledgeType.ACCEPT);
    static final Ack RELEASE = new Ack(AcknowledgeType.RELEASE);
  }

  /**
   * Not finished: run {@code next} after {@code pause}, on a worker, without holding one meanwhile.
   */
  record Later(Duration pause, Resume next) implements Answer {}

  /** The watchdog gave the run up: whatever it would have answered is the poll loop's to decide. */
  record Dropped() implements Answer {
    static final Dropped INSTANCE = new Dropped();
  }

  /** The rest of a record's run. */
  @FunctionalInterface
  interface Resume {
    /**
     * Runs on; {@code abandoned} says whether the watchdog gave this run up (checked after each
     * attempt: the run then stops and answers {@link Dropped}).
     */
    Answer run(BooleanSupplier abandoned);
  }

  /** The group's delivery limit, as last read and as read again before a record is released. */
  interface DeliveryLimit {
    /** The limit last read. */
    int limit();

    /** The limit read at most a second ago (read again now, when older). */
    int freshLimit();
  }

  /** How long the record is held: acquired {@code acquiredAt} ({@link System#nanoTime()}). */
  record Delivery(long acquiredAt, Duration lock) {}

  private final String consumerName;
  private final RecordAttempts<?> processor;
  private final FailurePolicy policy;
  private final ConsumerMetrics metrics;
  private final ShareMetrics shareMetrics;
  private final DeliveryLimit limit;
  private final Runnable databaseFailed;

  /**
   * @param limit the group's delivery limit as the broker has it now
   * @param databaseFailed told when an attempt could not reach the database, so that the poll loop
   *     stops acquiring at once rather than at the next health probe
   */
  ShareRecordTask(
      String consumerName,
      RecordAttempts<?> processor,
      FailurePolicy policy,
      ConsumerMetrics metrics,
      ShareMetrics shareMetrics,
      DeliveryLimit limit,
      Runnable databaseFailed) {
    this.consumerName = consumerName;
    this.processor = processor;
    this.policy = policy;
    this.metrics = metrics;
    this.shareMetrics = shareMetrics;
    this.limit = limit;
    this.databaseFailed = databaseFailed;
  }

  /** The first run of {@code record} in {@code delivery}. */
  Answer run(ConsumerRecord<byte[], byte[]> record, Delivery delivery, BooleanSupplier abandoned) {
    return run(record, delivery, abandoned, 1);
  }

  /**
   * The first run of {@code record} alone in {@code delivery}, as attempt {@code attempt}: the
   * attempts before it were runs of a group or batch transaction that failed as a whole.
   */
  Answer run(
      ConsumerRecord<byte[], byte[]> record,
      Delivery delivery,
      BooleanSupplier abandoned,
      int attempt) {
    countRedelivery(record);
    return new Attempts(record, delivery, attempt, null).run(abandoned);
  }

  /**
   * Attempt {@code attempt} at {@code record} failed with {@code failure} in a grouped transaction
   * that committed the other records: what follows is decided as after a failed run of the record
   * alone (a retry within the lock, a release, or a dead letter), without running it again first.
   */
  Answer afterGroupFailure(
      ConsumerRecord<byte[], byte[]> record,
      Delivery delivery,
      BooleanSupplier abandoned,
      int attempt,
      Throwable failure) {
    countRedelivery(record);
    return new Attempts(record, delivery, attempt, failure).run(abandoned);
  }

  /** A delivery after the first, counted once: when the record first runs alone in it. */
  private void countRedelivery(ConsumerRecord<byte[], byte[]> record) {
    if (deliveryCount(record) > 1) {
      shareMetrics.redelivered(record.topic());
    }
  }

  /**
   * The watchdog gave up an attempt at {@code record}: released for another delivery while the
   * retry policy allows one more attempt and this is not the group's last delivery; otherwise
   * written to the dead letters as {@value #HANDLER_TIMEOUT}.
   */
  Answer afterHang(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      HungAttemptException failure,
      BooleanSupplier abandoned) {
    return withMdc(
        record,
        () -> {
          FailurePolicy.Decision d = policy.afterHang(1);
          if (d.action() == FailurePolicy.Action.RETRY && !last(record, true)) {
            metrics.retry(record.topic());
            log.warn(
                "consumer {}: an attempt at {} hung and was given up; released for another"
                    + " delivery",
                consumerName,
                describe(record, eventId));
            return Ack.RELEASE;
          }
          return deadLetter(record, eventId, HANDLER_TIMEOUT, 1, failure, 1).run(abandoned);
        });
  }

  /** The attempts of one delivery: state kept across the pauses of {@link Later}. */
  private final class Attempts implements Resume {
    private final ConsumerRecord<byte[], byte[]> record;
    private final long budgetEnd;
    private boolean last;
    private long firstReadFailure;
    private int attempt;
    private int reruns;
    private int outageWaits;

    /** The time this delivery has waited for its event id's lock in runs that timed out there. */
    private long lockWaitNanos;

    /** The failure of the attempt made in a group transaction, decided on before any run here. */
    private Throwable groupFailure;

    Attempts(
        ConsumerRecord<byte[], byte[]> record,
        Delivery delivery,
        int attempt,
        Throwable groupFailure) {
      this.record = record;
      this.budgetEnd =
          delivery.acquiredAt() + (long) (delivery.lock().toNanos() * (1 - LOCK_MARGIN));
      this.last = last(record, false);
      this.attempt = attempt;
      this.groupFailure = groupFailure;
    }

    @Override
    public Answer run(BooleanSupplier abandoned) {
      return withMdc(record, () -> attempts(abandoned));
    }

    private Answer attempts(BooleanSupplier abandoned) {
      while (true) {
        Outcome outcome;
        if (groupFailure != null) {
          outcome =
              new Outcome(
                  Outcome.Kind.FAILED, processor.read(record).eventId(), null, groupFailure);
          groupFailure = null;
        } else {
          outcome = processor.process(record, attempt, null);
        }
        if (abandoned.getAsBoolean()) {
          return Dropped.INSTANCE;
        }
        if (outcome.eventId() != null) {
          MDC.put("idem.event_id", outcome.eventId());
        }
        switch (outcome.kind()) {
          case PROCESSED, DUPLICATE, DEAD_LETTERED, PARKED:
            return Ack.ACCEPT;
          case UNREADABLE:
            {
              long now = System.nanoTime();
              firstReadFailure = firstReadFailure == 0 ? now : firstReadFailure;
              FailurePolicy.Decision d =
                  policy.afterReadFailure(
                      outcome.failure(), attempt, Duration.ofNanos(now - firstReadFailure));
              if (d.action() == FailurePolicy.Action.RETRY && fits(d.delay(), budgetEnd)) {
                sleep(d.delay());
                metrics.retry(record.topic());
                attempt++;
                continue;
              }
              if (d.action() == FailurePolicy.Action.RETRY && !lastBeforeRelease()) {
                metrics.retry(record.topic());
                return Ack.RELEASE;
              }
              return deadLetter(
                      record, outcome.eventId(), outcome.reason(), attempt, outcome.failure(), 1)
                  .run(abandoned);
            }
          default:
            break;
        }
        lockWaitNanos += FailurePolicy.lockWaited(outcome.failure()).toNanos();
        FailurePolicy.Decision d =
            policy.afterFailure(
                outcome.failure(), attempt, reruns, Duration.ofNanos(lockWaitNanos));
        switch (d.action()) {
          case RERUN:
            reruns++;
            continue;
          case WAIT_FOR_LOCK:
            // A copy of the event holds its lock elsewhere, within its bound: no attempt is used
            // up. Waited for within the record's lock; past it, released (a delivery, not an
            // attempt), and on the last delivery kept and tried again after a pause.
            metrics.lockWaitTimeout(record.topic());
            if (fits(d.delay(), budgetEnd)) {
              sleep(d.delay());
              continue;
            }
            if (!lastBeforeRelease()) {
              metrics.retry(record.topic());
              return Ack.RELEASE;
            }
            return new Later(d.delay(), this);
          case WAIT_FOR_DATABASE:
            databaseFailed.run();
            if (fits(d.delay(), budgetEnd)) {
              sleep(d.delay());
              continue;
            }
            if (!lastBeforeRelease()) {
              metrics.retry(record.topic());
              return Ack.RELEASE;
            }
            // The last delivery: released, the broker would archive it. Try again after a pause
            // that holds no worker, for as long as this consumer runs.
            outageWaits++;
            Duration pause = policy.outageDelay(attempt + outageWaits);
            if (outageWaits == 1) {
              log.warn(
                  "consumer {}: {} failed on the share group's last delivery while the database"
                      + " was unreachable ({}); it is kept and tried again until it can be"
                      + " applied or dead-lettered",
                  consumerName,
                  describe(record, outcome.eventId()),
                  String.valueOf(outcome.failure()));
            }
            return new Later(pause, this);
          case RETRY:
            if (fits(d.delay(), budgetEnd)) {
              sleep(d.delay());
              metrics.retry(record.topic());
              attempt++;
              continue;
            }
            if (!lastBeforeRelease()) {
              metrics.retry(record.topic());
              return Ack.RELEASE;
            }
            return deadLetter(
                    record, outcome.eventId(), "handler-failed", attempt, outcome.failure(), 1)
                .run(abandoned);
          default:
            return deadLetter(
                    record, outcome.eventId(), "handler-failed", attempt, outcome.failure(), 1)
                .run(abandoned);
        }
      }
    }

    /** Whether this is the last delivery, by the group's limit read again before a release. */
    private boolean lastBeforeRelease() {
      last = last || last(record, true);
      return last;
    }
  }

  /**
   * Writes the dead letter; a failed write releases the record before its last delivery and is
   * tried again after a pause on the last one ({@code tries} so far, counting this one).
   */
  private Resume deadLetter(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure,
      int tries) {
    return abandoned ->
        withMdc(
            record,
            () -> {
              Outcome written =
                  processor.deadLetter(record, eventId, reason, attempts, failure, null);
              if (abandoned.getAsBoolean()) {
                return Dropped.INSTANCE;
              }
              if (written.kind() != Outcome.Kind.FAILED) {
                return Ack.ACCEPT;
              }
              if (written.failure() != null
                  && policy.afterFailure(written.failure(), 1, 0, Duration.ZERO).action()
                      == FailurePolicy.Action.WAIT_FOR_DATABASE) {
                databaseFailed.run();
              }
              if (!last(record, true)) {
                log.warn(
                    "consumer {}: the dead letter of {} could not be written ({}); released, the"
                        + " next delivery writes it",
                    consumerName,
                    describe(record, eventId),
                    String.valueOf(written.failure()));
                return Ack.RELEASE;
              }
              Duration pause = policy.outageDelay(tries);
              log.warn(
                  "consumer {}: the dead letter of {} could not be written ({}) on the share"
                      + " group's last delivery; trying again in {} ms",
                  consumerName,
                  describe(record, eventId),
                  String.valueOf(written.failure()),
                  pause.toMillis());
              return new Later(
                  pause, deadLetter(record, eventId, reason, attempts, failure, tries + 1));
            });
  }

  /**
   * Whether this is the group's last delivery of {@code record}: by the limit last read, or, when
   * {@code fresh}, by the limit read again (at most a second ago).
   */
  private boolean last(ConsumerRecord<byte[], byte[]> record, boolean fresh) {
    return deliveryCount(record) >= (fresh ? limit.freshLimit() : limit.limit());
  }

  private static int deliveryCount(ConsumerRecord<byte[], byte[]> record) {
    return record.deliveryCount().map(Short::intValue).orElse(1);
  }

  private <R> R withMdc(ConsumerRecord<byte[], byte[]> record, Supplier<R> run) {
    MDC.put("idem.consumer", consumerName);
    MDC.put("idem.record", record.topic() + "-" + record.partition() + "@" + record.offset());
    MDC.put(MDC_DELIVERY, String.valueOf(deliveryCount(record)));
    try {
      return run.get();
    } finally {
      MDC.remove("idem.consumer");
      MDC.remove("idem.record");
      MDC.remove("idem.event_id");
      MDC.remove(MDC_DELIVERY);
      Observations.clearMdc();
    }
  }

  private String describe(ConsumerRecord<byte[], byte[]> record, String eventId) {
    return record.topic()
        + "-"
        + record.partition()
        + "@"
        + record.offset()
        + " (event id "
        + (eventId == null ? "none" : eventId)
        + ", delivery "
        + deliveryCount(record)
        + ", trace "
        + Observations.traceIdForLog()
        + ")";
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
