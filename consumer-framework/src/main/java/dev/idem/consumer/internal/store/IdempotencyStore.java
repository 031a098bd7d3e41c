package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Set;

/**
 * The database steps of the processing contract. Implementations own all SQL text; the algorithm in
 * {@code internal.tx} only calls these steps, in order, on one connection in one transaction.
 */
public interface IdempotencyStore {

  /**
   * Starts the transaction's settings: READ COMMITTED, the lock, statement and idle timeouts, and
   * {@code synchronous_commit=on}. Must be the first call of the transaction.
   */
  void begin(Connection c) throws SQLException;

  /**
   * {@link #begin} and {@link #lock} in one round trip: the settings, then the lock as a statement
   * of its own, sent together.
   */
  void beginAndLock(Connection c, long key) throws SQLException;

  /**
   * {@link #beginAndLock} and then {@link #markIfNew}, three statements sent in one round trip: the
   * settings, the lock, the check and mark. The mark is still a statement of its own after the
   * lock's, so it runs on a snapshot taken once the lock is held.
   *
   * @return true when the mark was written (the event is new), false for a duplicate
   */
  boolean beginLockAndMark(Connection c, long key, String eventId, RecordCoordinates origin)
      throws SQLException;

  /** Waits for the advisory transaction lock {@code key}; released at commit or rollback. */
  void lock(Connection c, long key) throws SQLException;

  /**
   * Writes the processed mark unless the event id was processed or dead-lettered already. With
   * offsets in the database, also records {@code origin} as done, either way.
   *
   * @return true when the mark was written (the event is new), false for a duplicate
   */
  boolean markIfNew(Connection c, String eventId, RecordCoordinates origin) throws SQLException;

  /**
   * Writes a dead letter unless the event id was processed or dead-lettered already. With offsets
   * in the database, also records the letter's origin as done, either way.
   *
   * @return the new row's id, or null when the id (or this very record) was already handled
   */
  Long deadLetter(Connection c, DeadLetter letter) throws SQLException;

  /**
   * {@link #begin(Connection)} for a transaction that applies {@code records} records (its timeouts
   * scaled to them; 1 for a batch), then the advisory transaction locks {@code sortedKeys} as a
   * statement of its own, in one round trip. The locks are taken in the array's (ascending) order
   * so that overlapping batches and groups cannot deadlock on them.
   */
  void beginAndLockAll(Connection c, int records, long[] sortedKeys) throws SQLException;

  /** What is open before a grouped transaction's next record takes its savepoint. */
  enum PreviousSavepoint {
    /** Nothing: the record is the first to be tried in the transaction. */
    NONE,
    /** The previous record's savepoint: released first, which keeps its work. */
    OPEN
  }

  /**
   * Opens the savepoint of the next record of a grouped transaction (releasing the {@code previous}
   * record's first when it is open), then runs {@link #markIfNew} inside it, all in one round trip.
   * The mark is inside the savepoint, so that a rollback to it takes the mark (and the done-offset
   * row) with the record's effects.
   *
   * @return true when the mark was written (the event is new), false for a duplicate
   */
  boolean savepointAndMark(
      Connection c, PreviousSavepoint previous, String eventId, RecordCoordinates origin)
      throws SQLException;

  /**
   * Rolls the grouped transaction back to the current record's savepoint, which stays open: its
   * mark, done-offset row and effects are undone, the records before it are kept.
   */
  void rollbackToSavepoint(Connection c) throws SQLException;

  /**
   * Writes processed marks for the ids (distinct) that are neither processed nor dead-lettered.
   * With offsets in the database, also records {@code done} (every record the transaction covers,
   * copies inside the batch included) as done.
   *
   * @return the ids marked now, the new events
   */
  Set<String> markAllIfNew(
      Connection c,
      List<String> eventIds,
      List<RecordCoordinates> origins,
      List<RecordCoordinates> done)
      throws SQLException;

  /** Whether {@code e} is a unique violation of the processed-ids key. */
  boolean isProcessedKeyViolation(SQLException e);
}
