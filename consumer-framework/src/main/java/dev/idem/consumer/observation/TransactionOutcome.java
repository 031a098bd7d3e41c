package dev.idem.consumer.observation;

/** How an observed record or batch transaction ended: the value of the {@code idem.outcome} tag. */
public enum TransactionOutcome {
  /** Applied: the handler ran and the transaction committed with the processed mark. */
  PROCESSED("processed"),
  /** Skipped: the event id's processed mark was already there (or its dead letter was). */
  DUPLICATE("duplicate"),
  /** Queued behind its parked ordering key (park-key mode). */
  PARKED("parked"),
  /** Written to the dead letters. */
  DEAD_LETTERED("dead-lettered"),
  /** Failed (rolled back); what follows is a retry or a dead letter, each observed on its own. */
  FAILED("failed"),
  /**
   * A batch or grouped transaction that committed but left some of its records to the one-at-a-time
   * path (each observed on its own there).
   */
  PARTIAL("partial");

  private final String tagValue;

  TransactionOutcome(String tagValue) {
    this.tagValue = tagValue;
  }

  /** The tag's value. */
  public String tagValue() {
    return tagValue;
  }
}
