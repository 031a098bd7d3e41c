package dev.idem.consumer.internal.store;

/**
 * A record given up on.
 *
 * @param eventId the event id, or {@code topic-partition@offset} when the record had none
 * @param hasEventId whether {@code eventId} is the record's own
 * @param headersJson the headers as a JSON array of {@code {"key":..., "value":base64}} ({@code
 *     "key_base64"} instead of {@code "key"} for a key containing NUL, which jsonb cannot hold)
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
    String reason,
    String exceptionClass,
    String exceptionMessage) {}
