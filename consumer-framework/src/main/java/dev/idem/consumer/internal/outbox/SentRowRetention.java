package dev.idem.consumer.internal.outbox;

import java.time.Duration;

/**
 * Deletes rows sent longer than the retention ago, every tenth of the retention but at least once a
 * minute, busy or idle: in chunks of {@value #CHUNK} rows, each its own transaction, at most
 * {@value #CHUNKS} chunks at a time, so that a backlog of old rows delays the next round by a
 * bounded time and the rest waits for the next time.
 */
final class SentRowRetention {
  static final int CHUNK = 5_000;
  static final int CHUNKS = 20;

  private final RelayTable table;
  private final Duration retention;
  private long lastRun;

  /** With a null {@code retention}, sent rows are kept. */
  SentRowRetention(RelayTable table, Duration retention) {
    this.table = table;
    this.retention = retention;
  }

  /** Deletes old sent rows when the cadence says it is time. */
  void run() throws Exception {
    long now = System.currentTimeMillis();
    if (retention == null
        || now - lastRun < Math.min(60_000, Math.max(100, retention.toMillis() / 10))) {
      return;
    }
    lastRun = now;
    for (int i = 0; i < CHUNKS; i++) {
      if (table.deleteSentBefore(retention.toMillis(), CHUNK) < CHUNK) {
        return;
      }
    }
  }
}
