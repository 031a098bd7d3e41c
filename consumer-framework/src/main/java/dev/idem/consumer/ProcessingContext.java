package dev.idem.consumer;

import java.sql.Connection;
import org.apache.kafka.common.header.Headers;

/**
 * What a handler knows about the record it processes and the transaction it runs in. New accessors
 * may be added; implementations are idem's own.
 */
public interface ProcessingContext {

  /** The consumer's name: processed marks are kept per (consumer name, event id). */
  String consumerName();

  /** The event id: all copies of one event share it. Use it as an idempotency key downstream. */
  String eventId();

  /** The record's topic. */
  String topic();

  /** The record's partition. */
  int partition();

  /** The record's offset. */
  long offset();

  /** The record's timestamp in epoch milliseconds. */
  long timestamp();

  /** The record's key bytes, or null. */
  byte[] key();

  /** The record's headers (read-only). */
  Headers headers();

  /** The attempt number, starting at 1. */
  int attempt();

  /**
   * The transaction's connection. The transaction is idem's: {@code commit}, {@code rollback},
   * {@code close}, {@code setAutoCommit} and changes of isolation throw {@link
   * IllegalStateException}. Savepoints are allowed.
   */
  Connection connection();
}
