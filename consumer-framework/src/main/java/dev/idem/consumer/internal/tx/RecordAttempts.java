package dev.idem.consumer.internal.tx;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.store.ParkedKeys;
import java.sql.SQLException;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The attempts at single records that the dispatch and share tasks decide between: read a record,
 * run one attempt at it, write its dead letter. {@link RecordProcessor} is the one implementation;
 * the tasks depend on this interface so that their decisions can be tested without a database.
 * Implementations are thread-safe; they are called from worker threads.
 *
 * @param <T> the payload type
 */
public interface RecordAttempts<T> {

  /**
   * Reads the record's event id and payload. Never throws but for fatal errors: a failure of user
   * code (the extractor, the deserializer) or an unusable event id comes back as a {@link
   * Read#failure()}.
   */
  Read<T> read(ConsumerRecord<byte[], byte[]> record);

  /**
   * Attempt {@code attempt} (1-based) at {@code record}; in park-key mode {@code scope} is where
   * its ordering key would be parked (null for a record without one, and always in skip mode).
   *
   * @throws FaultHook.SimulatedCrash when a test's fault hook stops the consumer
   */
  Outcome process(ConsumerRecord<byte[], byte[]> record, int attempt, ParkedKeys.Scope scope);

  /**
   * Writes {@code record} to the dead letters: under its event id's lock, or, when it has no valid
   * id ({@code eventId} null), keyed by its coordinates and content, apart from every event id.
   * Returns {@link Outcome.Kind#DEAD_LETTERED}, {@link Outcome.Kind#DUPLICATE} when the id (or this
   * very record) was already handled, or {@link Outcome.Kind#FAILED} when the write failed: the
   * record must then not be skipped. In park-key mode the record's key is parked at {@code scope}
   * (when not null), so that its later records queue behind this one.
   */
  Outcome deadLetter(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure,
      ParkedKeys.Scope scope);

  /**
   * Where {@code record}'s ordering key {@code orderingKey} would be parked in park-key mode; null
   * in skip mode and for a record without an ordering key.
   */
  ParkedKeys.Scope parkScope(ConsumerRecord<byte[], byte[]> record, Object orderingKey);

  /** Whether {@code e} is a unique violation of the processed-ids key: another path marked it. */
  boolean isKeyRace(SQLException e);
}
