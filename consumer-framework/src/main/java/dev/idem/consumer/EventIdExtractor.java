package dev.idem.consumer;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Finds a record's event id: the identity all copies of one event share. Ready-made extractors are
 * in {@link EventIds}.
 */
@FunctionalInterface
public interface EventIdExtractor {

  /**
   * The record's event id, or null when it has none. idem rejects null, blank, over-long ({@value
   * EventIds#MAX_BYTES} bytes of UTF-8) and NUL-containing ids; the extractor need not check.
   *
   * @throws Exception when the record cannot be read (e.g. its value is not JSON); the record is
   *     rejected with that reason
   */
  String eventId(ConsumerRecord<byte[], byte[]> record) throws Exception;
}
