package dev.idem.consumer.internal.tx;

import java.sql.Connection;

/**
 * Where a running attempt registers the connection of its transaction, so that a watchdog can abort
 * it when the attempt outlives its timeouts. Called on the attempt's own thread.
 */
public interface AttemptConnections {

  /** No watchdog. */
  AttemptConnections NONE =
      new AttemptConnections() {
        @Override
        public void opened(Connection c) {}

        @Override
        public void closed(Connection c) {}
      };

  /** The current thread's attempt began a transaction on {@code c}. */
  void opened(Connection c);

  /**
   * Like {@link #opened(Connection)}, for the transaction of the record with {@code eventId}, so
   * that a stuck attempt can be logged and dead-lettered under its event id.
   */
  default void opened(Connection c, String eventId) {
    opened(c);
  }

  /**
   * Like {@link #opened(Connection)}, for a transaction that applies {@code records} records one
   * after the other (a grouped transaction): it may run {@code records} times as long as one.
   */
  default void opened(Connection c, int records) {
    opened(c);
  }

  /**
   * The body of the transaction on {@code c} ended; its commit or rollback follows. A watchdog that
   * is aborting {@code c} makes this wait until the abort is done, so the commit then fails.
   */
  void closed(Connection c);

  /**
   * The transaction of the current thread's attempt ended ({@code committed} or rolled back) and
   * the hook's after-completion work begins: a watchdog watches it like the transaction, from now
   * on, so that an after-commit callback that blocks does not hold the worker forever.
   */
  default void completing(boolean committed) {}

  /** The hook's after-completion work, since {@link #completing}, returned. */
  default void completed() {}

  /**
   * Whether the current thread's attempt was abandoned by the watchdog: its outcome is discarded,
   * and its failure was counted when it was abandoned.
   */
  default boolean abandoned() {
    return false;
  }
}
