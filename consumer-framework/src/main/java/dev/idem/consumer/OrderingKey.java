package dev.idem.consumer;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Decides which records of a partition must be processed one at a time, in offset order: those with
 * equal ordering keys (for example one account's events). Records with different keys run
 * concurrently; a null key means the record may run alongside any other. Nothing is ordered across
 * partitions. Ready-made ones are in {@link OrderingKeys}.
 *
 * <p>The ordering key is not the lock key: the lock key comes from the event id and only serializes
 * copies of one event.
 */
@FunctionalInterface
public interface OrderingKey {

  /**
   * The record's ordering key (compared with {@code equals}; arrays, such as the record key's
   * {@code byte[]}, are compared by content), or null for none. Runs on the poll thread: keep it
   * cheap (with {@code consumer.transaction.max-records} above 1 it also runs on the worker that
   * runs the record's group, and must be thread-safe). If it throws, the record is ordered with the
   * other unreadable records of its partition (it will most likely be dead-lettered).
   */
  Object of(ConsumerRecord<byte[], byte[]> record) throws Exception;
}
