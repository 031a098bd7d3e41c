package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * What a dead letter means for the later records of its ordering key, as the processing steps see
 * it: nothing ({@link #SKIP}, the default mode), or a parked key whose later records are
 * dead-lettered behind it in order ({@link ParkedKeys}, {@code
 * consumer.dead-letter.on-failure=park-key}). A record without a {@linkplain #scope scope} is never
 * parked by key, so the SQL methods are called only in park-key mode.
 */
public interface KeyParking {

  /** Skip mode: a dead letter lets the later records of its key through; nothing is parked. */
  KeyParking SKIP =
      new KeyParking() {
        @Override
        public ParkedKeys.Scope scope(String topic, int partition, Object orderingKey) {
          return null;
        }

        @Override
        public ParkedKeys.Parked lookup(Connection c, ParkedKeys.Scope scope) {
          throw new IllegalStateException("skip mode parks no key");
        }

        @Override
        public void park(Connection c, ParkedKeys.Scope scope, long deadLetterId, Arrival arrival) {
          throw new IllegalStateException("skip mode parks no key");
        }

        @Override
        public void releasedOne(Connection c, long id) {
          throw new IllegalStateException("skip mode parks no key");
        }
      };

  /** How a dead letter comes to a parked key. */
  enum Arrival {
    /** A record queued behind the key, or the first dead letter that parks it. */
    QUEUED,
    /** A record a replay released that failed again: it parks the key afresh. */
    RELEASED_RECORD
  }

  /**
   * Where a record of {@code topic}-{@code partition} with {@code orderingKey} would be parked, or
   * null when it is not parked by key: in skip mode, and for a record without an ordering key.
   */
  ParkedKeys.Scope scope(String topic, int partition, Object orderingKey);

  /** The key's row, locked until the transaction ends; null when the key is not parked. */
  ParkedKeys.Parked lookup(Connection c, ParkedKeys.Scope scope) throws SQLException;

  /** Parks the key at {@code scope} for dead letter {@code deadLetterId}, filed under it. */
  void park(Connection c, ParkedKeys.Scope scope, long deadLetterId, Arrival arrival)
      throws SQLException;

  /** One released record of parked key {@code id} is done. */
  void releasedOne(Connection c, long id) throws SQLException;
}
