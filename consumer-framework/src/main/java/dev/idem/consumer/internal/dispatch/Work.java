package dev.idem.consumer.internal.dispatch;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * One record on its way through a lane. The mutable fields are touched only by the lane's single
 * runner at a time; executor hand-offs order them. When the watchdog abandons a run, the lane goes
 * on with {@linkplain #Work(Work) copies} and the abandoned thread keeps the originals, flagged
 * {@link #abandoned}, so nothing it does when it returns reaches the lane.
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

  /** The time this record has waited for its event id's lock in runs that timed out there. */
  long lockWaitNanos;

  /** Set when the record was given up and only its dead-letter write is left (and failed). */
  String pendingDeadLetterReason;

  Throwable pendingDeadLetterFailure;
  String eventId;

  /** Batch mode: this record is finished within its group (after a fall-back). */
  boolean done;

  /** Batch mode: the group failed as a batch and runs one record at a time. */
  boolean fallback;

  /**
   * Grouped mode: the failure of this record's attempt {@link #attempt} in a grouped transaction
   * that committed the others, while what follows it (a retry, a dead letter) is not decided yet.
   */
  Throwable groupFailure;

  /**
   * Set on the objects an abandoned run was given: its thread must stop at the next check and
   * change nothing. The lane holds copies from then on.
   */
  volatile boolean abandoned;

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

  /** A copy of {@code from} with all its state, not {@link #abandoned}. Copies every field. */
  Work(Work from) {
    this.record = from.record;
    this.partition = from.partition;
    this.epoch = from.epoch;
    this.orderingKey = from.orderingKey;
    this.bytes = from.bytes;
    this.attempt = from.attempt;
    this.reruns = from.reruns;
    this.readFailures = from.readFailures;
    this.firstReadFailureNanos = from.firstReadFailureNanos;
    this.lockWaitNanos = from.lockWaitNanos;
    this.pendingDeadLetterReason = from.pendingDeadLetterReason;
    this.pendingDeadLetterFailure = from.pendingDeadLetterFailure;
    this.eventId = from.eventId;
    this.done = from.done;
    this.fallback = from.fallback;
    this.groupFailure = from.groupFailure;
  }

  /** The record. */
  public ConsumerRecord<byte[], byte[]> record() {
    return record;
  }

  /** The record's next attempt (1-based): earlier ones include failed group or batch runs. */
  public int attempt() {
    return attempt;
  }

  /**
   * Flags this object as given up by the watchdog: the thread that holds it stops at its next check
   * and changes nothing (for a share consumer, whose poll loop decides what follows).
   */
  public void abandon() {
    abandoned = true;
  }

  /** Whether the record is finished within its group (committed by it, or run alone to its end). */
  public boolean finished() {
    return done;
  }

  @Override
  public String toString() {
    return partition + "@" + record.offset() + " attempt " + attempt;
  }
}
