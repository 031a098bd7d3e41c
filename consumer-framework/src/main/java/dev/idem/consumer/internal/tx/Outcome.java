package dev.idem.consumer.internal.tx;

import dev.idem.consumer.observation.TransactionOutcome;

/**
 * The result of one attempt at a record.
 *
 * @param kind what happened
 * @param eventId the event id when it could be read and was valid, else null
 * @param reason for {@link Kind#UNREADABLE}: {@link Read#INVALID_EVENT_ID} or {@link
 *     Read#UNDESERIALIZABLE}
 * @param failure the failure of a {@link Kind#FAILED} or {@link Kind#UNREADABLE} attempt
 */
public record Outcome(Kind kind, String eventId, String reason, Throwable failure)
    implements Observed {

  /** What an attempt ended with. */
  public enum Kind {
    /** The handler ran and the transaction committed. */
    PROCESSED,
    /** The event id was already processed or dead-lettered; committed without the handler. */
    DUPLICATE,
    /** The attempt failed and rolled back; retry or give up. */
    FAILED,
    /**
     * The record could not be read (no valid event id, the deserializer failed); no transaction
     * ran. Whether a later attempt may read it is for the failure classifier to say.
     */
    UNREADABLE,
    /** The record was written to the dead letters. */
    DEAD_LETTERED,
    /**
     * Park-key mode: the record's ordering key is parked behind an earlier dead letter, and the
     * record was dead-lettered behind it, in order.
     */
    PARKED
  }

  @Override
  public TransactionOutcome outcome() {
    return switch (kind) {
      case PROCESSED -> TransactionOutcome.PROCESSED;
      case DUPLICATE -> TransactionOutcome.DUPLICATE;
      case PARKED -> TransactionOutcome.PARKED;
      case DEAD_LETTERED -> TransactionOutcome.DEAD_LETTERED;
      case FAILED, UNREADABLE -> TransactionOutcome.FAILED;
    };
  }

  @Override
  public Throwable error() {
    return failure;
  }

  static Outcome of(Kind kind, String eventId) {
    return new Outcome(kind, eventId, null, null);
  }

  static Outcome failed(String eventId, Throwable failure) {
    return new Outcome(Kind.FAILED, eventId, null, failure);
  }

  static Outcome unreadable(String eventId, String reason, Throwable failure) {
    return new Outcome(Kind.UNREADABLE, eventId, reason, failure);
  }
}
