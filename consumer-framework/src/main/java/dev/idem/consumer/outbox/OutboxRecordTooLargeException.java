package dev.idem.consumer.outbox;

import dev.idem.consumer.NonRetryableException;

/**
 * Thrown by {@link Outbox#publish} for a record larger than the outbox's {@code maxRecordBytes}:
 * the broker would refuse it, and a row the relay can never send would hold up every row behind it.
 * Nothing is written. From a handler it is a {@link NonRetryableException}: the source event is
 * dead-lettered at once instead of being retried.
 */
public class OutboxRecordTooLargeException extends NonRetryableException {
  private static final long serialVersionUID = 1L;

  private final long bytes;
  private final long limit;

  public OutboxRecordTooLargeException(String eventId, long bytes, long limit) {
    super(
        "outbox record "
            + eventId
            + " is "
            + bytes
            + " bytes (key, value and headers), over the outbox's limit of "
            + limit
            + " (Outbox.Builder.maxRecordBytes; keep it under the producer's max.request.size and"
            + " the topic's max.message.bytes)");
    this.bytes = bytes;
    this.limit = limit;
  }

  /** The record's size: key, value, header names and values, the event id header. */
  public long bytes() {
    return bytes;
  }

  /** The outbox's limit. */
  public long limit() {
    return limit;
  }
}
