package dev.idem.consumer.observation;

import io.micrometer.common.docs.KeyName;

/**
 * The keys idem's default conventions tag observations with. The messaging ones follow
 * OpenTelemetry's messaging semantic conventions, so tracing back ends show them in their usual
 * places.
 */
public enum IdemKeyNames implements KeyName {
  /** The idem consumer's name (low cardinality). */
  CONSUMER("idem.consumer"),
  /** {@link TransactionOutcome#tagValue()} (low cardinality). */
  OUTCOME("idem.outcome"),
  /**
   * What the observation covers: {@code process}, {@code dead-letter}, {@code batch}, {@code
   * group}.
   */
  OPERATION("idem.operation"),
  /** Always {@code kafka} (low cardinality). */
  MESSAGING_SYSTEM("messaging.system"),
  /** The record's topic (low cardinality). */
  DESTINATION("messaging.destination.name"),
  /** The record's partition (high cardinality: a span tag, not a meter tag). */
  PARTITION("messaging.destination.partition.id"),
  /** The record's offset, or a batch's first offset (high cardinality). */
  OFFSET("messaging.kafka.offset"),
  /** The record's event id (high cardinality). */
  EVENT_ID("idem.event.id"),
  /** The 1-based attempt (high cardinality: a meter tag would multiply the series). */
  ATTEMPT("idem.attempt"),
  /** The number of records of a batch or grouped transaction (high cardinality). */
  BATCH_SIZE("messaging.batch.message_count");

  private final String key;

  IdemKeyNames(String key) {
    this.key = key;
  }

  @Override
  public String asString() {
    return key;
  }
}
