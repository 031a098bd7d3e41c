package dev.idem.consumer;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Turns a record into the payload handed to the handler. Ready-made ones are in {@link Payloads}.
 * It runs on a worker thread, never on the poll thread, so a record that cannot be read never stops
 * polling.
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface PayloadDeserializer<T> {

  /**
   * The payload of {@code record}.
   *
   * @throws Exception when the record cannot be read; the record is rejected with that reason and
   *     never reaches the handler
   */
  T deserialize(ConsumerRecord<byte[], byte[]> record) throws Exception;
}
