package dev.idem.consumer.internal.store;

/**
 * A record given up on.
 *
 * @param eventId the event id, or null when the record had no usable one (it is then keyed by its
 *     coordinates and a digest of its content)
 * @param hasEventId whether the record had a usable event id
 * @param headersJson the headers as a JSON array of {@code {"key":..., "value":base64}} ({@code
 *     "key_base64"} instead of {@code "key"} for a key containing NUL, which jsonb cannot hold)
 * @param attempts the attempts made at it
 * @param deliveryCount the share group's delivery on which it was given up (the record's {@code
 *     deliveryCount()}), or null for a record that has none: one read in a consumer group
 * @param reason {@code handler-failed}, {@code invalid-event-id} or {@code undeserializable}
 */
public record DeadLetter(
    String eventId,
    boolean hasEventId,
    RecordCoordinates origin,
    byte[] key,
    byte[] value,
    String headersJson,
    int attempts,
    Integer deliveryCount,
    String reason,
    String exceptionClass,
    String exceptionMessage) {}
