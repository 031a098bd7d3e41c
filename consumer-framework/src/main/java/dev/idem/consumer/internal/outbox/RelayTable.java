package dev.idem.consumer.internal.outbox;

import dev.idem.consumer.internal.store.OutboxRows;
import dev.idem.consumer.internal.store.OutboxRows.Row;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.FencingToken;
import dev.idem.lock.StaleLeaderException;
import java.util.List;
import javax.sql.DataSource;

/** The outbox table as the relay uses it: each call is a transaction of its own on the pool. */
final class RelayTable {
  private final Transactions transactions = Transactions.standard();
  private final DataSource dataSource;
  private final OutboxRows rows;

  RelayTable(DataSource dataSource, OutboxRows rows) {
    this.dataSource = dataSource;
    this.rows = rows;
  }

  /** Up to {@code limit} unsent rows, in id order. */
  List<Row> unsent(int limit) throws Exception {
    return transactions.run(dataSource, c -> rows.unsent(c, limit));
  }

  /** The unsent rows' count and the oldest one's age. */
  OutboxRows.Pending pending() throws Exception {
    return transactions.run(dataSource, rows::pending);
  }

  /**
   * Marks {@code sent} sent, in a transaction that first checks {@code token}.
   *
   * @throws StaleLeaderException when a newer leader's epoch is committed
   */
  void markSent(FencingToken token, List<Row> sent) throws Exception {
    Long[] ids = sent.stream().map(Row::id).toArray(Long[]::new);
    transactions.run(
        dataSource,
        c -> {
          token.check(c);
          rows.markSent(c, ids);
          return null;
        });
  }

  /** Deletes up to {@code limit} rows sent more than {@code retentionMillis} ago. */
  int deleteSentBefore(long retentionMillis, int limit) throws Exception {
    return transactions.run(dataSource, c -> rows.deleteSentBefore(c, retentionMillis, limit));
  }
}
