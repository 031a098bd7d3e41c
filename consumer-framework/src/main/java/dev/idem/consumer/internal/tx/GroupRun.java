package dev.idem.consumer.internal.tx;

import dev.idem.consumer.observation.TransactionOutcome;
import java.util.BitSet;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What a transaction over several records of a partition ended with: a batch (batch mode) or a
 * grouped transaction (grouped mode).
 *
 * @param failure the failure of the whole transaction (nothing committed), or null when it
 *     committed
 * @param unfinished when it committed: the indexes of the records it did not finish (in grouped
 *     mode, failed ones and those held back behind a failed record of their ordering key; a batch
 *     finishes all or none)
 * @param failedAttempts the records whose failed attempt this run was, by index, with the failure
 *     that ended it. When the transaction committed: each record that failed in its savepoint
 *     (grouped mode). When it failed: every record of the transaction that failed, with {@link
 *     #failure()} (a batch split at {@code consumer.batch.max-locks} ran transactions before it,
 *     which committed, and none after it). A record held back behind a failed one is not attempted.
 */
public record GroupRun(
    Throwable failure, BitSet unfinished, SortedMap<Integer, Throwable> failedAttempts)
    implements Observed {

  public GroupRun {
    failedAttempts = Collections.unmodifiableSortedMap(new TreeMap<>(failedAttempts));
  }

  /** A transaction that committed every record. */
  static GroupRun allDone() {
    return new GroupRun(null, new BitSet(), new TreeMap<>());
  }

  /** A transaction over the records at {@code attempted} that failed as a whole. */
  static GroupRun failed(Throwable failure, BitSet attempted) {
    SortedMap<Integer, Throwable> failed = new TreeMap<>();
    attempted.stream().forEach(i -> failed.put(i, failure));
    return new GroupRun(failure, null, failed);
  }

  /** Whether the transaction committed (some records may still be unfinished). */
  public boolean committed() {
    return failure == null;
  }

  /** The failure of the first record that failed in a committed transaction, or null. */
  public Throwable firstFailure() {
    return committed() && !failedAttempts.isEmpty()
        ? failedAttempts.get(failedAttempts.firstKey())
        : null;
  }

  @Override
  public TransactionOutcome outcome() {
    return !committed()
        ? TransactionOutcome.FAILED
        : unfinished.isEmpty() ? TransactionOutcome.PROCESSED : TransactionOutcome.PARTIAL;
  }

  @Override
  public Throwable error() {
    return committed() ? firstFailure() : failure;
  }
}
