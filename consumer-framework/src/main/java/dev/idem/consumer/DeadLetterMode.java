package dev.idem.consumer;

/**
 * What a dead letter means for the later records of its ordering key ({@code
 * consumer.dead-letter.on-failure}).
 */
public enum DeadLetterMode {
  /**
   * The default: the dead-lettered record is skipped and the later records of its key are applied.
   * A ledger may then apply a refund before the payment it refunds.
   */
  SKIP,
  /**
   * The record's ordering key (within its topic-partition) is parked: its later records are
   * dead-lettered behind it, in order (reason {@code parked}), until a replay releases them all in
   * order, or the parked record is discarded. Other keys keep flowing. Costs one more statement per
   * record (the look-up of the key). Not available in batch mode.
   */
  PARK_KEY
}
