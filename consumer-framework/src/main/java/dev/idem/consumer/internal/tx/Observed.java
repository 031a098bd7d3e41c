package dev.idem.consumer.internal.tx;

import dev.idem.consumer.observation.TransactionOutcome;

/** The result of an attempt as its observation records it. */
public interface Observed {

  /** How the attempt ended. */
  TransactionOutcome outcome();

  /** The failure the observation reports, or null. */
  Throwable error();

  /** The record's event id, or null when it has none or the attempt covered many records. */
  default String eventId() {
    return null;
  }
}
