package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.RetryDecision;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.tx.EventLockTimeout;
import dev.idem.consumer.internal.tx.Failures;
import java.sql.SQLException;
import java.time.Duration;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What follows a failed attempt, decided in one place for single records and batches: re-run at
 * once, wait for the database, retry after a backoff, or give up (dead-letter).
 */
public final class FailurePolicy {
  private static final Logger log = LoggerFactory.getLogger(FailurePolicy.class);

  /**
   * While the database is unreachable, waits start at this step of the retry policy's backoff (400
   * ms with the defaults) and grow from there, so that a down server is not hammered by every
   * waiting record at the initial backoff.
   */
  static final int OUTAGE_FIRST_STEP = 3;

  /** Re-runs after a race on the processed key; the re-run finds the mark and skips. */
  static final int MAX_RERUNS = 3;

  /** What to do next. */
  public enum Action {
    /** Run again at once, without using up an attempt. */
    RERUN,
    /** Wait for the database to come back, without using up an attempt. */
    WAIT_FOR_DATABASE,
    /**
     * Wait for the transaction that holds the event id's lock (a copy of the event, applied
     * elsewhere), without using up an attempt.
     */
    WAIT_FOR_LOCK,
    /** Run again after {@link Decision#delay()}, as the next attempt. */
    RETRY,
    /** No more attempts: dead-letter the record. */
    GIVE_UP
  }

  /** A decision and the delay before the next run. */
  public record Decision(Action action, Duration delay, Failures.Kind kind) {}

  private final RetryPolicy retry;
  private final FailureClassifier classifier;
  private final Duration readRetryTimeout;
  private final Predicate<SQLException> isKeyRace;
  private final Duration lockWaitAllowance;

  /**
   * @param lockWaitAllowance how long a record may wait in all for its event id's lock, over its
   *     attempts, before a lock timeout there uses up an attempt: twice the bound of a transaction
   *     that holds the lock ({@link Tasks#lockWaitAllowance})
   */
  public FailurePolicy(
      RetryPolicy retry,
      FailureClassifier classifier,
      Duration readRetryTimeout,
      Predicate<SQLException> isKeyRace,
      Duration lockWaitAllowance) {
    this.retry = retry;
    this.classifier = classifier;
    this.readRetryTimeout = readRetryTimeout;
    this.isKeyRace = isKeyRace;
    this.lockWaitAllowance = lockWaitAllowance;
  }

  /** The kind of {@code failure}. */
  Failures.Kind classify(Throwable failure) {
    return Failures.classify(failure, isKeyRace);
  }

  /** The wait before looking again at an unreachable database, after {@code attempt} attempts. */
  public Duration outageDelay(int attempt) {
    return retry.delayAfter(Math.max(attempt, OUTAGE_FIRST_STEP));
  }

  /**
   * The time {@code failure} spent waiting for its event id's lock: the wait of an {@link
   * EventLockTimeout} in its causes, else zero.
   */
  public static Duration lockWaited(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof EventLockTimeout e) {
        return e.waited();
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return Duration.ZERO;
  }

  /**
   * {@link #afterFailure(Throwable, int, int, Duration)} for callers that keep no total of lock
   * waits: only {@code failure}'s own wait counts.
   */
  public Decision afterFailure(Throwable failure, int attempt, int reruns) {
    return afterFailure(failure, attempt, reruns, lockWaited(failure));
  }

  /**
   * After attempt {@code attempt} (with {@code reruns} key-race re-runs so far) failed; {@code
   * lockWaited} is the time the record has waited for its event id's lock over all its runs, this
   * one's {@linkplain #lockWaited(Throwable) wait} included.
   */
  public Decision afterFailure(Throwable failure, int attempt, int reruns, Duration lockWaited) {
    Failures.Kind kind = classify(failure);
    switch (kind) {
      case KEY_RACE:
        if (reruns < MAX_RERUNS) {
          return new Decision(Action.RERUN, Duration.ZERO, kind);
        }
        break;
      case CONNECTION:
        return new Decision(Action.WAIT_FOR_DATABASE, outageDelay(attempt), kind);
      case LOCK_WAIT:
        // The holder is bounded (its watchdog, its server-side timeouts); a wait within twice that
        // bound is the copy's normal lot, not its failure. Past it something else holds the lock
        // (an instance with other timeouts, a session outside idem): count it as an attempt.
        if (lockWaited.compareTo(lockWaitAllowance) <= 0) {
          return new Decision(Action.WAIT_FOR_LOCK, outageDelay(attempt), kind);
        }
        break;
      default:
        break;
    }
    if (decide(failure, kind) == RetryDecision.RETRY && retry.allowsAttemptAfter(attempt)) {
      return new Decision(Action.RETRY, retry.delayAfter(attempt), kind);
    }
    return new Decision(Action.GIVE_UP, Duration.ZERO, kind);
  }

  /**
   * After attempt {@code attempt} hung and the watchdog abandoned it. This runs under the
   * dispatcher's lock, so the user's classifier is not asked: a hang is retried while the retry
   * policy allows another attempt, like a transient failure.
   */
  public Decision afterHang(int attempt) {
    if (retry.allowsAttemptAfter(attempt)) {
      return new Decision(Action.RETRY, retry.delayAfter(attempt), Failures.Kind.TRANSIENT);
    }
    return new Decision(Action.GIVE_UP, Duration.ZERO, Failures.Kind.TRANSIENT);
  }

  /**
   * After the record could not be read for the {@code readAttempt}-th time, the first of them
   * {@code sinceFirstFailure} ago.
   */
  public Decision afterReadFailure(Throwable failure, int readAttempt, Duration sinceFirstFailure) {
    RetryDecision d;
    try {
      d = classifier.classifyReadFailure(failure);
    } catch (RuntimeException e) {
      log.error("the failure classifier threw on a read failure; using the default", e);
      d = null;
    }
    if (d == null) {
      d = FailureClassifier.retryAll().classifyReadFailure(failure);
    }
    Duration delay = retry.delayAfter(readAttempt);
    if (d == RetryDecision.RETRY && sinceFirstFailure.plus(delay).compareTo(readRetryTimeout) < 0) {
      return new Decision(Action.RETRY, delay, Failures.Kind.USER);
    }
    return new Decision(Action.GIVE_UP, Duration.ZERO, Failures.Kind.USER);
  }

  private RetryDecision decide(Throwable failure, Failures.Kind kind) {
    if (kind == Failures.Kind.TRANSIENT || kind == Failures.Kind.LOCK_WAIT) {
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
}
