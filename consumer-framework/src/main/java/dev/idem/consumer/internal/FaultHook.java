package dev.idem.consumer.internal;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Points where tests inject faults. Production consumers use {@link #NONE}. A hook that throws
 * {@link SimulatedCrash} makes the consumer stop at once, as if its process died: nothing more is
 * committed to Kafka.
 */
public interface FaultHook {

  /** No faults. */
  FaultHook NONE = new FaultHook() {};

  /**
   * Called on the worker thread as a transaction for {@code record} begins: its processing, its
   * dead letter, or (batch mode) a batch it belongs to, copies inside the batch included.
   */
  default void transactionStarted(ConsumerRecord<byte[], byte[]> record) {}

  /** Called on the worker thread right after a record's database transaction committed. */
  default void afterDatabaseCommit(ConsumerRecord<byte[], byte[]> record) {}

  /**
   * Called on an outbox relay's thread after a round's Kafka transaction committed, before its
   * {@code rows} are marked sent.
   */
  default void afterOutboxSend(int rows) {}

  /** Thrown by a hook to simulate the death of the consumer's process. */
  final class SimulatedCrash extends Error {
    private static final long serialVersionUID = 1L;

    public SimulatedCrash(String message) {
      super(message, null, false, false);
    }
  }
}
