package dev.idem.consumer.internal.tx;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/** A record whose event id is valid and whose payload was read. */
public record Prepared<T>(ConsumerRecord<byte[], byte[]> record, String eventId, T payload) {}
