package dev.idem.consumer;

/**
 * The lifecycle of an {@link IdempotentConsumer}: {@code CREATED -> STARTING -> RUNNING}; a failed
 * start or a failure while running ends in {@code FAILED}; {@code close()} goes through {@code
 * CLOSING} to {@code CLOSED} from any state. A consumer starts once. {@code snapshot()} and {@code
 * health()} always show the same state.
 */
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
