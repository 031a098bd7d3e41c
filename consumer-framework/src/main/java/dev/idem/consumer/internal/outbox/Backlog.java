package dev.idem.consumer.internal.outbox;

import dev.idem.consumer.internal.store.OutboxRows;

/**
 * The unsent rows and the oldest one's age, as this relay last counted them while it led: NaN until
 * it counted once. The gauges and the health show them only while the relay leads.
 */
final class Backlog {
  private final RelayTable table;
  private volatile double rows = Double.NaN;
  private volatile double oldestSeconds = Double.NaN;
  private long lastMeasured;

  Backlog(RelayTable table) {
    this.table = table;
  }

  /** Counts the pending rows and the oldest one's age, at most once a second. */
  void measure() throws Exception {
    long now = System.currentTimeMillis();
    if (now - lastMeasured < 1000) {
      return;
    }
    lastMeasured = now;
    OutboxRows.Pending pending = table.pending();
    rows = pending.rows();
    oldestSeconds = pending.oldestSeconds();
  }

  /** The unsent rows last counted, or NaN. */
  double rows() {
    return rows;
  }

  /** The oldest unsent row's age in seconds when last counted, or NaN. */
  double oldestSeconds() {
    return oldestSeconds;
  }
}
