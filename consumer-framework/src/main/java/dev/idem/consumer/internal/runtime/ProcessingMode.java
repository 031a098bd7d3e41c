package dev.idem.consumer.internal.runtime;

import dev.idem.consumer.IdemConfig;

/**
 * How a consumer applies its records, decided once from its handler and {@code
 * consumer.transaction.max-records}, and read the same way by both consumer kinds.
 */
public enum ProcessingMode {
  /** A per-record handler, one transaction per record. */
  RECORD,
  /**
   * A per-record handler, up to {@code consumer.transaction.max-records} records of a partition in
   * one transaction, each in a savepoint of its own.
   */
  GROUPED,
  /** A batch handler, up to {@code consumer.batch.size} records of a partition per call. */
  BATCH;

  /** The mode of a consumer with a batch handler or not, and {@code config}. */
  static ProcessingMode of(boolean batchHandler, IdemConfig config) {
    if (batchHandler) {
      return BATCH;
    }
    return config.transactionMaxRecords() > 1 ? GROUPED : RECORD;
  }

  /** The most records of one partition that one transaction takes. */
  public int groupSize(IdemConfig config) {
    return switch (this) {
      case RECORD -> 1;
      case GROUPED -> config.transactionMaxRecords();
      case BATCH -> config.batchSize();
    };
  }
}
