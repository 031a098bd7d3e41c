package dev.idem.consumer.internal.share;

import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A record the share client acquired for this consumer and that is not acknowledged yet, as the
 * poll loop holds it from acquisition to acknowledgement. Touched by the poll thread only.
 */
final class HeldRecord {

  /** A record's coordinates, the key of the held records. */
  record Coordinates(String topic, int partition, long offset) {
    static Coordinates of(ConsumerRecord<byte[], byte[]> r) {
      return new Coordinates(r.topic(), r.partition(), r.offset());
    }
  }

  /** The instance the client holds now: a renewed record comes back as a new instance. */
  ConsumerRecord<byte[], byte[]> record;

  /** This delivery: when it was acquired, and for how long. */
  final ShareRecordTask.Delivery delivery;

  /** When its acquisition lock last started: acquired, or returned renewed. */
  long lockFrom;

  /**
   * Acknowledged with {@code RENEW}: the client refuses any other acknowledgement until a poll
   * returns it.
   */
  boolean renewing;

  /** The broker renewed its lock: the next poll returns it. */
  boolean renewed;

  /** Its answer, given while it was being renewed: sent once a poll returns it. */
  AcknowledgeType answer;

  /** The run working on it, or null while it waits for a worker or a pause, or is answered. */
  ShareRuns.Run run;

  HeldRecord(ConsumerRecord<byte[], byte[]> record, ShareRecordTask.Delivery delivery, long now) {
    this.record = record;
    this.delivery = delivery;
    this.lockFrom = now;
  }

  Coordinates coordinates() {
    return Coordinates.of(record);
  }

  int deliveryCount() {
    return record.deliveryCount().map(Short::intValue).orElse(1);
  }

  @Override
  public String toString() {
    return record.topic() + "-" + record.partition() + "@" + record.offset();
  }
}
