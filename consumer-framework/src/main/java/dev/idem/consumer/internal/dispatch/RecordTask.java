package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.RetryDecision;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.Failures;
import dev.idem.consumer.internal.tx.Outcome;
import dev.idem.consumer.internal.tx.RecordProcessor;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Runs one attempt at a lane's head and decides what follows: done, retry after a backoff, or give
 * up and dead-letter. This is the one choke point through which user code (deserializer, id
 * extractor, handler) runs; whatever it throws is caught, counted and routed here.
 */
public final class RecordTask implements Function<Work, Step> {
  private static final Logger log = LoggerFactory.getLogger(RecordTask.class);
  private static final int MAX_RERUNS = 3;

  private final String consumerName;
  private final RecordProcessor<?> processor;
  private final RetryPolicy retry;
  private final FailureClassifier classifier;
  private final ConsumerMetrics metrics;
  private final Runnable onCrash;

  /**
   * @param onCrash called when a fault hook simulates the death of the process, or when a fatal VM
   *     error makes going on unsafe
   */
  public RecordTask(
      String consumerName,
      RecordProcessor<?> processor,
      RetryPolicy retry,
      FailureClassifier classifier,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    this.consumerName = consumerName;
    this.processor = processor;
    this.retry = retry;
    this.classifier = classifier;
    this.metrics = metrics;
    this.onCrash = onCrash;
  }

  @Override
  public Step apply(Work work) {
    ConsumerRecord<byte[], byte[]> record = work.record;
    MDC.put("idem.consumer", consumerName);
    MDC.put("idem.record", record.topic() + "-" + record.partition() + "@" + record.offset());
    try {
      if (work.pendingDeadLetterReason != null) {
        return deadLetter(work, work.pendingDeadLetterReason, work.pendingDeadLetterFailure);
      }
      Outcome outcome = processor.process(record, work.attempt);
      work.eventId = outcome.eventId();
      if (outcome.eventId() != null) {
        MDC.put("idem.event_id", outcome.eventId());
      }
      return switch (outcome.kind()) {
        case PROCESSED, DUPLICATE, DEAD_LETTERED -> Step.DONE;
        case REJECTED -> {
          log.warn(
              "record rejected ({}): {}; writing it to the dead letters",
              outcome.reason(),
              String.valueOf(outcome.failure()));
          yield deadLetter(work, outcome.reason(), outcome.failure());
        }
        case FAILED -> failed(work, outcome.failure());
      };
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
    }
  }

  private Step failed(Work work, Throwable failure) {
    if (processor.isProcessedKeyViolation(failure) && work.reruns < MAX_RERUNS) {
      // Another path marked this event id first; the re-run finds the mark and skips.
      work.reruns++;
      log.info("processed mark already present; re-running the check");
      return Step.retryAfter(Duration.ZERO);
    }
    if (isConnectionFailure(failure)) {
      // The database is unreachable: not this record's fault, so no attempt is used up.
      metrics.retry(work.record.topic());
      Duration delay = retry.delayAfter(Math.max(work.attempt, 3));
      log.warn("database unreachable ({}); retrying in {} ms", failure, delay.toMillis());
      return Step.retryAfter(delay);
    }
    RetryDecision decision = decide(failure);
    if (decision == RetryDecision.RETRY && retry.allowsAttemptAfter(work.attempt)) {
      Duration delay = retry.delayAfter(work.attempt);
      log.warn("attempt {} failed; retrying in {} ms", work.attempt, delay.toMillis(), failure);
      work.attempt++;
      metrics.retry(work.record.topic());
      return Step.retryAfter(delay);
    }
    if (failure instanceof NonRetryableException) {
      log.warn("not retryable ({}); writing the record to the dead letters", failure.toString());
    } else {
      log.error(
          "giving up after attempt {} ({}); writing the record to the dead letters",
          work.attempt,
          decision == RetryDecision.GIVE_UP ? "not retryable" : "no attempts left",
          failure);
    }
    return deadLetter(work, "handler-failed", failure);
  }

  private RetryDecision decide(Throwable failure) {
    if (Failures.isTransient(failure)) {
      return RetryDecision.RETRY;
    }
    if (failure instanceof NonRetryableException) {
      return RetryDecision.GIVE_UP;
    }
    try {
      RetryDecision d = classifier.classify(failure);
      return d == null ? RetryDecision.RETRY : d;
    } catch (RuntimeException e) {
      log.error("the failure classifier threw; retrying", e);
      return RetryDecision.RETRY;
    }
  }

  private Step deadLetter(Work work, String reason, Throwable failure) {
    Outcome written =
        processor.deadLetter(work.record, work.eventId, reason, work.attempt, failure);
    if (written.kind() == Outcome.Kind.FAILED) {
      // Never skip a record whose dead letter is not written: try again.
      work.pendingDeadLetterReason = reason;
      work.pendingDeadLetterFailure = failure;
      Duration delay = retry.delayAfter(Math.max(work.attempt, 3));
      log.error(
          "writing the dead letter failed; retrying in {} ms", delay.toMillis(), written.failure());
      return Step.retryAfter(delay);
    }
    work.pendingDeadLetterReason = null;
    work.pendingDeadLetterFailure = null;
    return Step.DONE;
  }

  static boolean isConnectionFailure(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof SQLTransientConnectionException) {
        return true;
      }
      if (t instanceof SQLException sql && sql.getSQLState() != null) {
        String s = sql.getSQLState();
        if (s.startsWith("08")
            || s.equals("57P01")
            || s.equals("57P02")
            || s.equals("57P03")
            || s.equals("53300")) {
          return true;
        }
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }
}
