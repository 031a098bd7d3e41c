package dev.idem.consumer.internal.tx;

import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * What one attempt covers: one record (processed, or written to the dead letters), or a batch or
 * grouped transaction of a partition's records. The frame derives from it what every attempt does
 * around its steps: which observation, which records the test fault points see, how the watchdog
 * measures the transaction.
 *
 * @param kind what kind of attempt
 * @param records the records it covers, in offset order (one for a record)
 * @param attempt the 1-based attempt number
 * @param eventId the record's event id when known, else null (always null for batches and groups)
 */
public record Unit(
    Kind kind, List<ConsumerRecord<byte[], byte[]>> records, int attempt, String eventId) {

  /** The kinds of attempts. */
  public enum Kind {
    /** One record through the handler. */
    RECORD,
    /** One record written to the dead letters. */
    DEAD_LETTER,
    /** Many records, one batch handler call (batch mode). */
    BATCH,
    /** Many records, one handler call each in a savepoint (grouped mode). */
    GROUP
  }

  public Unit {
    records = List.copyOf(records);
    if (records.isEmpty()) {
      throw new IllegalArgumentException("a unit covers at least one record");
    }
  }

  /**
   * Attempt {@code attempt} at {@code record}, whose event id is {@code eventId} (null: unknown).
   */
  public static Unit record(ConsumerRecord<byte[], byte[]> record, int attempt, String eventId) {
    return new Unit(Kind.RECORD, List.of(record), attempt, eventId);
  }

  /** The dead letter of {@code record} after {@code attempts} attempts. */
  public static Unit deadLetter(
      ConsumerRecord<byte[], byte[]> record, int attempts, String eventId) {
    return new Unit(Kind.DEAD_LETTER, List.of(record), attempts, eventId);
  }

  /** A batch of {@code records}. */
  public static Unit batch(List<ConsumerRecord<byte[], byte[]>> records, int attempt) {
    return new Unit(Kind.BATCH, records, attempt, null);
  }

  /** A grouped transaction of {@code records}. */
  public static Unit group(List<ConsumerRecord<byte[], byte[]>> records, int attempt) {
    return new Unit(Kind.GROUP, records, attempt, null);
  }

  /** The first record. */
  public ConsumerRecord<byte[], byte[]> first() {
    return records.get(0);
  }

  /**
   * What it is, for messages: "event id e-1 (orders-3@1234)" for a record, "the group of
   * orders-3@1234..1265" or "the batch of ..." for many.
   */
  public String describe() {
    ConsumerRecord<byte[], byte[]> first = first();
    String at = first.topic() + "-" + first.partition() + "@" + first.offset();
    return switch (kind) {
      case RECORD, DEAD_LETTER -> "event id " + eventId + " (" + at + ")";
      case BATCH, GROUP ->
          "the "
              + (kind == Kind.BATCH ? "batch" : "group")
              + " of "
              + at
              + ".."
              + records.get(records.size() - 1).offset();
    };
  }

  /** The topic its meters are tagged with: the first record's. */
  public String topic() {
    return first().topic();
  }
}
