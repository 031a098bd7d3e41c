package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import java.time.Duration;

/** The rules between settings, each refusal naming the key to change. */
public final class Rules {
  private Rules() {}

  /** The processed-marks table and the dead-letter table are two tables. */
  public static void tablesDiffer(String processedTable, String deadLetterTable) {
    if (processedTable.equals(deadLetterTable)) {
      throw new IdemConfigException(
          "consumer.dead-letter-table", "must differ from consumer.processed-table");
    }
  }

  /** The lock wait fits in the statement timeout, and both fit in PostgreSQL's int milliseconds. */
  public static void timeouts(Duration lockTimeout, Duration handlerTimeout) {
    if (lockTimeout.compareTo(handlerTimeout) > 0) {
      throw new IdemConfigException(
          "consumer.lock-timeout",
          "must not exceed consumer.handler-timeout ("
              + Values.format(handlerTimeout)
              + "): the statement timeout bounds the lock wait too");
    }
    if (lockTimeout.plus(handlerTimeout).toMillis() > Integer.MAX_VALUE) {
      throw new IdemConfigException(
          "consumer.handler-timeout",
          Values.format(handlerTimeout)
              + " plus consumer.lock-timeout ("
              + Values.format(lockTimeout)
              + ") is over PostgreSQL's limit for its timeouts (2147483647 ms, about 24 days);"
              + " lower them");
    }
  }

  /** A revoke's drain ends before the group gives up on the member. */
  public static void drainWithinPollInterval(Duration drainTimeout, int maxPollIntervalMs) {
    if (drainTimeout.toMillis() >= maxPollIntervalMs) {
      throw new IdemConfigException(
          "consumer.drain-timeout",
          Values.format(drainTimeout)
              + " must be shorter than kafka.max.poll.interval.ms ("
              + maxPollIntervalMs
              + " ms): a revoke that drains longer is kicked out of the group");
    }
  }

  /** One partition holds at most the whole bound, and one poll fits under it. */
  public static void inFlight(int maxInFlight, int perPartition, int maxPollRecords) {
    if (perPartition > maxInFlight) {
      throw new IdemConfigException(
          "consumer.max-in-flight-per-partition",
          perPartition
              + " is above consumer.max-in-flight ("
              + maxInFlight
              + "): one partition cannot hold more than the whole consumer; lower it");
    }
    if (maxInFlight < maxPollRecords) {
      throw new IdemConfigException(
          "consumer.max-in-flight",
          maxInFlight
              + " is below kafka.max.poll.records ("
              + maxPollRecords
              + "): one poll must fit; raise it or lower kafka.max.poll.records");
    }
  }

  /** Every worker gets a connection, plus two for the offset fold and the retention job. */
  public static void poolHoldsConcurrency(int poolSize, int concurrency) {
    if (poolSize < concurrency + 2) {
      throw new IdemConfigException(
          "pg.pool-size",
          poolSize
              + " is too small for consumer.concurrency="
              + concurrency
              + ": the pool needs at least concurrency + 2 = "
              + (concurrency + 2)
              + " connections");
    }
  }

  /** The most records a grouped transaction may hold: one savepoint (subtransaction) each. */
  public static final int MAX_GROUPED_RECORDS = 64;

  /**
   * A grouped transaction stays within PostgreSQL's per-backend cache of 64 subtransactions: past
   * it, every snapshot on the server has to look subtransactions up in pg_subtrans, and all
   * sessions slow down, not only this one.
   */
  public static void transactionMaxRecords(int maxRecords) {
    if (maxRecords > MAX_GROUPED_RECORDS) {
      throw new IdemConfigException(
          "consumer.transaction.max-records",
          maxRecords
              + " is above "
              + MAX_GROUPED_RECORDS
              + ": each record of a grouped transaction is a savepoint, and PostgreSQL caches"
              + " only 64 subtransactions per backend; past that, snapshots slow down on the whole"
              + " server. Use at most 64 (32 is the recommendation)");
    }
  }
}
