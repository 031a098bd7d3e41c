package dev.idem.consumer;

/**
 * Where a consumer keeps the authoritative record of which offsets are done ({@code
 * consumer.offset-store}).
 */
public enum OffsetStore {
  /**
   * Kafka's committed offsets (the default). A crash redelivers the records past the last commit;
   * the processed check skips them, one transaction each.
   */
  KAFKA,

  /**
   * PostgreSQL: every processing transaction also records its record's offset as done, in the same
   * transaction as the effects and the processed mark. On assignment the consumer seeks to the
   * stored position and skips offsets recorded as done, so a crash or a reset of Kafka's committed
   * offsets re-reads nothing that is done. Kafka's committed offsets are still written, as a hint
   * for lag monitoring. See {@code docs/processing.md}.
   */
  POSTGRESQL
}
