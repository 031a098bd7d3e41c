package dev.idem.consumer;

import org.apache.kafka.common.header.Headers;

/**
 * One new event of a batch.
 *
 * @param payload the deserialized payload
 * @param eventId the event id
 * @param topic the record's topic
 * @param partition the record's partition
 * @param offset the record's offset
 * @param key the record's key bytes, or null
 * @param headers the record's headers
 * @param <T> the payload type
 */
public record BatchEvent<T>(
    T payload,
    String eventId,
    String topic,
    int partition,
    long offset,
    byte[] key,
    Headers headers) {}
