package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.store.ParkedKeys;
import dev.idem.consumer.internal.tx.Outcome;
import dev.idem.consumer.internal.tx.RecordAttempts;
import dev.idem.consumer.observation.Traceparent;
import java.time.Duration;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Runs one attempt at a lane's head and decides what follows: done, retry after a backoff, or give
 * up and dead-letter. This is the one choke point through which user code (deserializer, id
 * extractor, handler) runs; whatever it throws is caught, counted and routed here.
 */
public final class RecordTask implements RecordPath {
  private static final Logger log = LoggerFactory.getLogger(RecordTask.class);

  /** The dead-letter reason of a record whose every attempt hung until the watchdog gave it up. */
  static final String HANDLER_TIMEOUT = "handler-timeout";

  private final String consumerName;
  private final RecordAttempts<?> processor;
  private final FailurePolicy policy;
  private final ConsumerMetrics metrics;
  private final Runnable onCrash;

  /**
   * @param onCrash called when a fault hook simulates the death of the process, or when a fatal VM
   *     error makes going on unsafe
   */
  RecordTask(
      String consumerName,
      RecordAttempts<?> processor,
      FailurePolicy policy,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    this.consumerName = consumerName;
    this.processor = processor;
    this.policy = policy;
    this.metrics = metrics;
    this.onCrash = onCrash;
  }

  @Override
  public Step apply(Work work) {
    return guarded(work, () -> attempt(work));
  }

  /**
   * The record's attempt failed in a grouped transaction: that attempt counts, and the retry policy
   * decides what follows as if it had failed alone.
   */
  @Override
  public Step afterGroupFailure(Work work, Throwable failure) {
    return guarded(
        work,
        () -> {
          if (work.eventId != null) {
            MDC.put("idem.event_id", work.eventId);
          }
          return failed(work, failure);
        });
  }

  private Step attempt(Work work) {
    ConsumerRecord<byte[], byte[]> record = work.record;
    if (work.pendingDeadLetterReason != null) {
      return deadLetter(work, work.pendingDeadLetterReason, work.pendingDeadLetterFailure);
    }
    Outcome outcome = processor.process(record, work.attempt, parkScope(work));
    if (work.abandoned) {
      return Step.DISCARDED; // the watchdog gave this run up; the lane went on with a copy
    }
    work.eventId = outcome.eventId();
    if (outcome.eventId() != null) {
      MDC.put("idem.event_id", outcome.eventId());
    }
    return switch (outcome.kind()) {
      case PROCESSED, DUPLICATE, DEAD_LETTERED, PARKED -> Step.DONE;
      case UNREADABLE -> unreadable(work, outcome);
      case FAILED -> failed(work, outcome.failure());
    };
  }

  /**
   * Runs {@code step} for {@code work} with the record in the logging MDC; a simulated crash or a
   * fatal VM error stops the consumer.
   */
  private Step guarded(Work work, Supplier<Step> step) {
    ConsumerRecord<byte[], byte[]> record = work.record;
    MDC.put("idem.consumer", consumerName);
    MDC.put("idem.record", record.topic() + "-" + record.partition() + "@" + record.offset());
    try {
      return step.get();
    } catch (FaultHook.SimulatedCrash crash) {
      onCrash.run();
      return Step.retryAfter(Duration.ofDays(1));
    } catch (VirtualMachineError fatal) {
      log.error("fatal VM error while processing; stopping the consumer", fatal);
      onCrash.run();
      throw fatal;
    } finally {
      MDC.remove("idem.consumer");
      MDC.remove("idem.record");
      MDC.remove("idem.event_id");
      Observations.clearMdc();
    }
  }

  /**
   * The record of {@code work} as give-up and dead-letter lines name it, whatever the log layout:
   * coordinates, event id and trace id.
   */
  static String describe(Work work) {
    ConsumerRecord<byte[], byte[]> r = work.record;
    String trace = Observations.traceIdForLog();
    if ("none".equals(trace)) {
      Traceparent t = Traceparent.fromHeaders(r.headers(), Traceparent.HEADER);
      trace = t == null ? "none" : t.traceId();
    }
    return r.topic()
        + "-"
        + r.partition()
        + "@"
        + r.offset()
        + " (event id "
        + (work.eventId == null ? "none" : work.eventId)
        + ", trace "
        + trace
        + ")";
  }

  private Step unreadable(Work work, Outcome outcome) {
    long now = System.nanoTime();
    if (work.readFailures++ == 0) {
      work.firstReadFailureNanos = now;
    }
    FailurePolicy.Decision d =
        policy.afterReadFailure(
            outcome.failure(),
            work.readFailures,
            Duration.ofNanos(now - work.firstReadFailureNanos));
    if (d.action() == FailurePolicy.Action.RETRY) {
      metrics.retry(work.record.topic());
      log.warn(
          "record unreadable ({}), retrying in {} ms: {}",
          outcome.reason(),
          d.delay().toMillis(),
          String.valueOf(outcome.failure()));
      return Step.retryAfter(d.delay());
    }
    log.warn(
        "giving up on {}: unreadable ({}): {}; writing it to the dead letters",
        describe(work),
        outcome.reason(),
        String.valueOf(outcome.failure()));
    return deadLetter(work, outcome.reason(), outcome.failure());
  }

  private Step failed(Work work, Throwable failure) {
    work.lockWaitNanos += FailurePolicy.lockWaited(failure).toNanos();
    FailurePolicy.Decision d =
        policy.afterFailure(
            failure, work.attempt, work.reruns, Duration.ofNanos(work.lockWaitNanos));
    switch (d.action()) {
      case RERUN -> {
        // Another path marked this event id first; the re-run finds the mark and skips.
        work.reruns++;
        log.info("processed mark already present; re-running the check");
        return Step.retryAfter(Duration.ZERO);
      }
      case WAIT_FOR_DATABASE -> {
        // The database is unreachable: not this record's fault, so no attempt is used up.
        metrics.retry(work.record.topic());
        log.warn("database unreachable ({}); retrying in {} ms", failure, d.delay().toMillis());
        return Step.retryAfter(d.delay());
      }
      case WAIT_FOR_LOCK -> {
        // A copy of the event holds its lock elsewhere, within its bound: no attempt is used up.
        metrics.lockWaitTimeout(work.record.topic());
        log.info(
            "{}; the holder is within its bound ({} ms waited in all), retrying in {} ms",
            failure.getMessage(),
            Duration.ofNanos(work.lockWaitNanos).toMillis(),
            d.delay().toMillis());
        return Step.retryAfter(d.delay());
      }
      case RETRY -> {
        log.warn(
            "attempt {} failed; retrying in {} ms", work.attempt, d.delay().toMillis(), failure);
        work.attempt++;
        metrics.retry(work.record.topic());
        return Step.retryAfter(d.delay());
      }
      default -> {
        if (failure instanceof NonRetryableException) {
          log.warn(
              "giving up on {}: not retryable ({}); writing it to the dead letters",
              describe(work),
              failure.toString());
        } else {
          log.error(
              "giving up on {} after attempt {}; writing it to the dead letters",
              describe(work),
              work.attempt,
              failure);
        }
        return deadLetter(work, "handler-failed", failure);
      }
    }
  }

  /** Where the record's key would be parked in park-key mode; null in skip mode or without key. */
  private ParkedKeys.Scope parkScope(Work work) {
    return work.orderingKey == Work.UNREADABLE_ORDERING_KEY
        ? null
        : processor.parkScope(work.record, work.orderingKey);
  }

  /**
   * The watchdog abandoned attempt {@code work.attempt}: a failed attempt, retried while the policy
   * allows, else dead-lettered on the next run (this runs under the dispatcher's lock).
   */
  @Override
  public Step abandoned(Work work, HungAttemptException failure) {
    if (work.eventId == null) {
      work.eventId = failure.eventId(); // the hung attempt never returned its outcome
    }
    FailurePolicy.Decision d = policy.afterHang(work.attempt);
    if (d.action() == FailurePolicy.Action.RETRY) {
      log.warn("attempt {} hung; retrying in {} ms", work.attempt, d.delay().toMillis());
      work.attempt++;
      metrics.retry(work.record.topic());
      return Step.retryAfter(d.delay());
    }
    log.error(
        "giving up on {} after attempt {} hung; writing it to the dead letters on its next run",
        describe(work),
        work.attempt);
    work.pendingDeadLetterReason = HANDLER_TIMEOUT;
    work.pendingDeadLetterFailure = failure;
    return Step.retryAfter(Duration.ZERO);
  }

  private Step deadLetter(Work work, String reason, Throwable failure) {
    Outcome written =
        processor.deadLetter(
            work.record, work.eventId, reason, work.attempt, failure, parkScope(work));
    if (written.kind() == Outcome.Kind.FAILED) {
      // Never skip a record whose dead letter is not written: try again.
      work.pendingDeadLetterReason = reason;
      work.pendingDeadLetterFailure = failure;
      Duration delay = policy.outageDelay(work.attempt);
      log.error(
          "writing the dead letter of {} failed; retrying in {} ms",
          describe(work),
          delay.toMillis(),
          written.failure());
      return Step.retryAfter(delay);
    }
    work.pendingDeadLetterReason = null;
    work.pendingDeadLetterFailure = null;
    return Step.DONE;
  }
}
