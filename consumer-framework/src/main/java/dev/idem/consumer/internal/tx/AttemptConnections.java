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

  /** The transaction on {@code c} ended (committed or rolled back). */
  void closed(Connection c);
}
