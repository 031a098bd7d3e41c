package dev.idem.consumer.internal.store;

/** Where a record came from. */
public record RecordCoordinates(String topic, int partition, long offset) {
  @Override
  public String toString() {
    return topic + "-" + partition + "@" + offset;
  }
}
