package dev.idem.consumer;

import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;

/**
 * Decides whether a failure is worth retrying. Decisions are made on exception types, never on
 * message text.
 *
 * <p>Two kinds of failure are asked about:
 *
 * <ul>
 *   <li>{@link #classify(Throwable)}: the handler failed (or the transaction around it). Transient
 *       database failures (serialization failures, deadlocks, lock timeouts, lost connections, a
 *       server starting or shutting down, too many connections) are always retried before the
 *       classifier is asked, and {@link NonRetryableException} is always given up. The default
 *       retries everything else, within the retry policy's attempts.
 *   <li>{@link #classifyReadFailure(Throwable)}: the payload deserializer or the event-id extractor
 *       failed, before any transaction. The default retries only {@linkplain #isNetworkFailure
 *       network failures} (a schema registry that is down) and gives up at once on anything else
 *       (malformed input never becomes readable). Retries of an unreadable record are bounded in
 *       time by {@code consumer.read-retry-timeout}; then it is dead-lettered.
 * </ul>
 *
 * <p>A classifier that throws or returns null counts as {@link RetryDecision#RETRY} for handler
 * failures and as the default decision for read failures.
 */
@FunctionalInterface
public interface FailureClassifier {

  /** The default: retry every handler failure (within the retry policy's attempts). */
  static FailureClassifier retryAll() {
    return failure -> RetryDecision.RETRY;
  }

  /** Retry or give up on {@code failure}, thrown by the handler or its transaction. */
  RetryDecision classify(Throwable failure);

  /**
   * Retry or give up on {@code failure}, thrown by the payload deserializer or the event-id
   * extractor. Default: retry network failures, give up on the rest.
   */
  default RetryDecision classifyReadFailure(Throwable failure) {
    return isNetworkFailure(failure) ? RetryDecision.RETRY : RetryDecision.GIVE_UP;
  }

  /**
   * Whether a cause of {@code failure} is a network failure that a later attempt may not meet: a
   * refused connection ({@link ConnectException}), a socket timeout ({@link
   * SocketTimeoutException}) or an unknown host ({@link UnknownHostException}). Other {@code
   * IOException}s are not: Jackson's parse errors are {@code IOException}s too, and malformed input
   * stays malformed.
   */
  static boolean isNetworkFailure(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof ConnectException
          || t instanceof SocketTimeoutException
          || t instanceof UnknownHostException) {
        return true;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }
}
