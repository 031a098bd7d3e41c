package dev.idem.consumer.internal.retention;

import dev.idem.consumer.internal.store.RetentionSql;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.RunResult;
import java.sql.Connection;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes a consumer's processed marks older than the retention window, in bounded batches (each
 * its own short transaction), on one instance at a time: the run holds a singleton-job lock, and
 * the instances that find it taken skip.
 *
 * <p>Dead letters are not touched: they stay until a replay resolves (deletes) them.
 */
public final class RetentionJob {
  private static final Logger log = LoggerFactory.getLogger(RetentionJob.class);

  private final AdvisoryLocks locks;
  private final DataSource dataSource;
  private final Transactions transactions;
  private final RetentionSql sql;
  private final String jobName;
  private final Duration window;
  private final int batchSize;
  private final Clock clock;

  /** What one run deleted. */
  public record Purged(long deleted, int batches) {}

  public RetentionJob(
      AdvisoryLocks locks,
      DataSource dataSource,
      String schema,
      String processedTable,
      String consumerName,
      Duration window,
      int batchSize,
      Clock clock) {
    this.locks = locks;
    this.dataSource = dataSource;
    this.transactions = Transactions.standard();
    this.sql = new RetentionSql(schema, processedTable, consumerName);
    this.jobName = "retention:" + schema + "." + processedTable + ":" + consumerName;
    this.window = window;
    this.batchSize = batchSize;
    this.clock = clock;
  }

  /** One run, or a skip when another instance runs it now. */
  public RunResult<Purged> runOnce() {
    return locks.runExclusive(jobName, this::deleteExpired);
  }

  private Purged deleteExpired() throws Exception {
    Instant cutoff = clock.instant().minus(window);
    long deleted = 0;
    int batches = 0;
    try (Connection c = dataSource.getConnection()) {
      while (true) {
        // Each batch is a short transaction of its own, so the job never holds many row locks.
        int n = transactions.on(c, tx -> sql.deleteBatch(tx, cutoff, batchSize));
        if (n == 0) {
          break;
        }
        deleted += n;
        batches++;
        if (n < batchSize) {
          break;
        }
      }
    }
    if (deleted > 0) {
      log.info(
          "retention deleted {} processed marks older than {} in {} batches",
          deleted,
          cutoff,
          batches);
    }
    return new Purged(deleted, batches);
  }
}
