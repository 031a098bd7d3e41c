package dev.idem.consumer;

import dev.idem.IdemException;

/**
 * A handler returned normally, but left idem's transaction unable to commit what it did: it caught
 * an SQL error (PostgreSQL had aborted the transaction, and {@code COMMIT} would quietly have
 * rolled back its writes and the processed mark), or it ended the transaction itself with a {@code
 * COMMIT}, {@code ROLLBACK} or {@code END} statement. The attempt counts as failed: the record is
 * retried by the retry policy and then dead-lettered, never counted as done.
 *
 * <p>To try a statement that may fail and carry on, run it inside {@link
 * ProcessingContext#withSavepoint(SqlWork)}.
 */
public class TransactionMisuseException extends IdemException {
  private static final long serialVersionUID = 1L;

  /** What the handler did to the transaction. */
  public enum Misuse {
    /** Caught an SQL error and returned: the transaction was aborted. */
    SWALLOWED_SQL_ERROR,
    /** Ended the transaction with SQL. */
    ENDED_TRANSACTION
  }

  private final Misuse misuse;

  /** The handler of the given record misused its transaction; {@code eventId} may be null. */
  public TransactionMisuseException(
      Misuse misuse, String topic, int partition, long offset, String eventId, Throwable cause) {
    super(message(misuse), topic, partition, offset, eventId, cause);
    this.misuse = misuse;
  }

  /** The handler of a batch misused its transaction. */
  public TransactionMisuseException(Misuse misuse, Throwable cause) {
    super(message(misuse), cause);
    this.misuse = misuse;
  }

  /** What the handler did. */
  public Misuse misuse() {
    return misuse;
  }

  private static String message(Misuse misuse) {
    return misuse == Misuse.SWALLOWED_SQL_ERROR
        ? "the handler caught an SQL error and returned normally, but PostgreSQL had aborted the"
            + " transaction: committing would silently roll back the handler's writes and the"
            + " processed mark. Let the SQLException propagate (idem retries the record), or run a"
            + " statement that may fail inside ctx.withSavepoint(...)"
        : "the handler ended idem's transaction itself (a COMMIT, ROLLBACK or END statement), so its"
            + " writes and the processed mark were committed apart or lost. Never end the"
            + " transaction in a handler: throw to roll back, or use ctx.withSavepoint(...) to undo"
            + " part of it";
  }
}
