package dev.idem.consumer.internal.outbox;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.store.OutboxRows.Row;
import dev.idem.lock.FencingToken;
import dev.idem.lock.StaleLeaderException;
import java.util.List;

/**
 * One round of the leader: read up to a batch of unsent rows, send them in one Kafka transaction,
 * then mark them sent in a database transaction fenced by the leadership's epoch. Before that it
 * counts the backlog and runs the retention, each at its own cadence.
 */
final class RelayRound {
  private final RelayTable table;
  private final int batchSize;
  private final Backlog backlog;
  private final SentRowRetention retention;
  private final RelayProducer producer;
  private final RelayMeters meters;
  private final FaultHook faults;

  RelayRound(
      RelayTable table,
      int batchSize,
      Backlog backlog,
      SentRowRetention retention,
      RelayProducer producer,
      RelayMeters meters,
      FaultHook faults) {
    this.table = table;
    this.batchSize = batchSize;
    this.backlog = backlog;
    this.retention = retention;
    this.producer = producer;
    this.meters = meters;
    this.faults = faults;
  }

  /**
   * Runs the round under {@code token}.
   *
   * @return the rows sent and marked (0: none were pending)
   * @throws StaleLeaderException when a newer leader's epoch refused the mark: the rows stay unsent
   */
  int run(FencingToken token) throws Exception {
    // Counted first, so that a leader that cannot reach the broker still shows its pending rows.
    backlog.measure();
    retention.run();
    // The producer is made at the first round of a leadership, not at the first row: its
    // initTransactions (which also aborts what a dead predecessor left open) takes hundreds of
    // milliseconds that the first rows after an election would otherwise wait.
    producer.open();
    List<Row> rows = table.unsent(batchSize);
    if (rows.isEmpty()) {
      return 0;
    }
    producer.sendInOneTransaction(rows);
    meters.published(rows.size());
    faults.afterOutboxSend(rows.size());
    mark(token, rows);
    return rows.size();
  }

  private void mark(FencingToken token, List<Row> rows) throws Exception {
    try {
      table.markSent(token, rows);
    } catch (StaleLeaderException e) {
      // The rows stay unsent; the new leader sends them again (same event ids) and marks them.
      meters.fenced();
      throw e;
    }
  }
}
