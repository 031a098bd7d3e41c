package dev.idem.consumer;

/** The lifecycle of an {@link IdempotentConsumer}. */
public enum ConsumerState {
  /** Built, not started. */
  CREATED,
  /** Applying the schema and joining the group. */
  STARTING,
  /** Polling and processing. */
  RUNNING,
  /** Finishing in-flight records and committing before leaving the group. */
  CLOSING,
  /** Closed; cannot be started again. */
  CLOSED,
  /** Stopped by a failure it could not survive; see the log. */
  FAILED
}
