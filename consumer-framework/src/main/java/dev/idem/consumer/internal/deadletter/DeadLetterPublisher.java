package dev.idem.consumer.internal.deadletter;

import dev.idem.consumer.internal.store.DeadLetter;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Publishes a dead letter beyond the table (to a topic). At least once. */
public interface DeadLetterPublisher extends AutoCloseable {

  /** Publishes nowhere. */
  DeadLetterPublisher NONE = (record, letter) -> {};

  /**
   * Publishes and waits for the acknowledgement.
   *
   * @throws Exception when the letter was not acknowledged; the dead-letter transaction then rolls
   *     back and the record is retried, never skipped
   */
  void publish(ConsumerRecord<byte[], byte[]> record, DeadLetter letter) throws Exception;

  @Override
  default void close() {}
}
