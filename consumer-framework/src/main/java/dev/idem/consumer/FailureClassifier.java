package dev.idem.consumer;

/**
 * Decides whether a handler's failure is worth retrying. Decisions are made on exception types,
 * never on message text.
 *
 * <p>Transient database failures (serialization failures, deadlocks, lock timeouts, lost
 * connections, a server starting or shutting down, too many connections) are always retried before
 * the classifier is asked. {@link NonRetryableException} is always given up. Everything else is
 * asked here; the default retries.
 */
@FunctionalInterface
public interface FailureClassifier {

  /** The default: retry every failure (within the retry policy's attempts). */
  static FailureClassifier retryAll() {
    return failure -> RetryDecision.RETRY;
  }

  /** Retry or give up on {@code failure}, thrown by the handler or the deserializer. */
  RetryDecision classify(Throwable failure);
}
