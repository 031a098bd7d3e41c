package dev.idem.consumer.internal.tx;

import dev.idem.consumer.observation.TransactionOutcome;
import java.util.BitSet;

/**
 * What a transaction over several records of a partition ended with: a batch (batch mode) or a
 * grouped transaction (grouped mode).
 *
 * @param failure the failure of the whole transaction (nothing committed), or null when it
 *     committed
 * @param unfinished when it committed: the indexes of the records it did not finish (in grouped
 *     mode, failed ones and those held back behind a failed record of their ordering key; a batch
 *     finishes all or none)
 * @param firstFailure the failure of the first record that failed, or null
 */
public record GroupRun(Throwable failure, BitSet unfinished, Throwable firstFailure)
    implements Observed {

  /** A transaction that committed every record. */
  static GroupRun allDone() {
    return new GroupRun(null, new BitSet(), null);
  }

  /** A transaction that failed as a whole. */
  static GroupRun failed(Throwable failure) {
    return new GroupRun(failure, null, null);
  }

  /** Whether the transaction committed (some records may still be unfinished). */
  public boolean committed() {
    return failure == null;
  }

  @Override
  public TransactionOutcome outcome() {
    return !committed()
        ? TransactionOutcome.FAILED
        : unfinished.isEmpty() ? TransactionOutcome.PROCESSED : TransactionOutcome.PARTIAL;
  }

  @Override
  public Throwable error() {
    return committed() ? firstFailure : failure;
  }
}
