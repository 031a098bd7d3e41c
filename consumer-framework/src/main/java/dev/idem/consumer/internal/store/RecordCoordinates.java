package dev.idem.consumer.internal.store;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Where a record came from. */
public record RecordCoordinates(String topic, int partition, long offset) {

  /** The coordinates of {@code record}. */
  public static RecordCoordinates of(ConsumerRecord<?, ?> record) {
    return new RecordCoordinates(record.topic(), record.partition(), record.offset());
  }

  @Override
  public String toString() {
    return topic + "-" + partition + "@" + offset;
  }
}
