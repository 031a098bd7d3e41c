package dev.idem.consumer.outbox;

import dev.idem.consumer.EventIds;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A record to publish through the outbox.
 *
 * @param eventId the record's event id, sent in the {@value Outbox#EVENT_ID_HEADER} header: stable
 *     across retries of the transaction that writes it, so that a downstream idem consumer
 *     deduplicates the relay's at-least-once sends (see {@link EventIds#problem} for what is
 *     usable); unique in the outbox
 * @param topic the Kafka topic
 * @param key the Kafka key, or null (records without a key are published in no promised order)
 * @param value the value, or null
 * @param headers further headers, in order; none may be named {@value Outbox#EVENT_ID_HEADER}
 */
public record OutboxRecord(
    String eventId, String topic, byte[] key, byte[] value, Map<String, byte[]> headers) {

  public OutboxRecord {
    String problem = EventIds.problem(eventId);
    if (problem != null) {
      throw new IllegalArgumentException("outbox event id is not usable: " + problem);
    }
    if (topic == null || topic.isBlank()) {
      throw new IllegalArgumentException("outbox record needs a topic");
    }
    headers = headers == null ? Map.of() : new LinkedHashMap<>(headers);
    for (String name : headers.keySet()) {
      if (Objects.requireNonNull(name, "header name").equals(Outbox.EVENT_ID_HEADER)) {
        throw new IllegalArgumentException(
            Outbox.EVENT_ID_HEADER + " is set by the outbox from the event id");
      }
    }
  }

  /** A record without further headers. */
  public static OutboxRecord of(String eventId, String topic, byte[] key, byte[] value) {
    return new OutboxRecord(eventId, topic, key, value, Map.of());
  }
}
