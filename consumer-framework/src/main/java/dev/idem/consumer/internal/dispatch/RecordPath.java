package dev.idem.consumer.internal.dispatch;

/**
 * How one record goes when it is not (or no longer) part of a batch or grouped transaction: in a
 * consumer group through {@link RecordTask} (retries scheduled by the dispatcher, then a dead
 * letter); in a share group through the share task (retries within the record's acquisition lock,
 * then an acknowledgement).
 */
public interface RecordPath {

  /** Runs {@code work}'s record once and says what follows: done, or a retry after a delay. */
  Step apply(Work work);

  /**
   * Attempt {@code work.attempt} at {@code work}'s record failed with {@code failure} in a grouped
   * transaction that committed the other records: decides what follows, as after a failed run of
   * the record alone (a retry after the backoff, or a dead letter). This default runs the record
   * alone now, for a path that counts its attempts itself.
   */
  default Step afterGroupFailure(Work work, Throwable failure) {
    return apply(work);
  }

  /**
   * The watchdog abandoned a run of {@code work}: decides what follows, as after a failed attempt.
   * Called under the dispatcher's lock; must not block, run user code or touch the database.
   */
  Step abandoned(Work work, HungAttemptException failure);
}
