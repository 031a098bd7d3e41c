package dev.idem.consumer.internal.dispatch;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * One record on its way through a lane. The mutable fields are touched only by the lane's single
 * runner at a time; executor hand-offs order them.
 */
public final class Work {
  /**
   * The ordering key of records whose key function threw: they queue behind each other in their
   * partition, and are never parked by key.
   */
  public static final Object UNREADABLE_ORDERING_KEY = new Object();

  final ConsumerRecord<byte[], byte[]> record;
  final TopicPartition partition;
  final long epoch;
  final Object orderingKey;
  final long bytes;
  int attempt = 1;
  int reruns;

  /**
   * Times the record could not be read (deserializer or event id), and when that first happened.
   */
  int readFailures;

  long firstReadFailureNanos;

  /** Set when the record was given up and only its dead-letter write is left (and failed). */
  String pendingDeadLetterReason;

  Throwable pendingDeadLetterFailure;
  String eventId;

  /** Batch mode: this record is finished within its group (after a fall-back). */
  boolean done;

  /** Batch mode: the group failed as a batch and runs one record at a time. */
  boolean fallback;

  public Work(
      ConsumerRecord<byte[], byte[]> record,
      TopicPartition partition,
      long epoch,
      Object orderingKey) {
    this.record = record;
    this.partition = partition;
    this.epoch = epoch;
    this.orderingKey = orderingKey;
    this.bytes =
        Math.max(0, record.serializedKeySize()) + (long) Math.max(0, record.serializedValueSize());
  }

  @Override
  public String toString() {
    return partition + "@" + record.offset() + " attempt " + attempt;
  }
}
