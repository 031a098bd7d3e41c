package dev.idem.consumer.internal.tx;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A record read by the event-id extractor and the payload deserializer: either both succeeded, or
 * {@link #failure()} says why not.
 *
 * @param record the record
 * @param eventId its valid event id, or null when none could be read
 * @param payload the payload, when read
 * @param reason for a failure: {@link #INVALID_EVENT_ID} or {@link #UNDESERIALIZABLE}
 * @param failure what the extractor or deserializer threw (or why the id is unusable), or null
 */
public record Read<T>(
    ConsumerRecord<byte[], byte[]> record,
    String eventId,
    T payload,
    String reason,
    Throwable failure) {

  /** Dead-letter reason of a record without a usable event id. */
  public static final String INVALID_EVENT_ID = "invalid-event-id";

  /** Dead-letter reason of a record whose payload cannot be read. */
  public static final String UNDESERIALIZABLE = "undeserializable";

  static <T> Read<T> ok(ConsumerRecord<byte[], byte[]> record, String eventId, T payload) {
    return new Read<>(record, eventId, payload, null, null);
  }

  static <T> Read<T> failed(
      ConsumerRecord<byte[], byte[]> record, String eventId, String reason, Throwable failure) {
    return new Read<>(record, eventId, null, reason, failure);
  }

  /** Whether the id and the payload were read. */
  public boolean ok() {
    return failure == null;
  }
}
