package dev.idem.consumer;

import io.micrometer.core.instrument.MeterRegistry;

/**
 * An idem consumer as an application manages it, whichever group it reads in: {@link
 * IdempotentConsumer} (a consumer group) or {@link IdempotentShareConsumer} (a share group). Both
 * start once, report their health the same way and close the same way, so a framework integration
 * starts, watches and stops them through this one type.
 */
public interface IdemConsumer extends AutoCloseable {

  /** The consumer's name: processed marks are kept per (name, event id). */
  String name();

  /** The consumer's configuration. */
  IdemConfig config();

  /**
   * Applies the schema (unless disabled), checks the server and starts consuming on a thread of its
   * own. A consumer starts once.
   *
   * @throws dev.idem.IdemException when the database cannot be reached or the schema cannot be
   *     applied
   * @throws IllegalStateException naming the state when called a second time
   */
  void start();

  /**
   * The consumer's health: state, readiness and liveness, reachability of the database and the
   * broker, stuck workers. Cheap: no thread, no connection, no I/O per call.
   */
  ConsumerHealth health();

  /** The latest snapshot published by the consumer's poll thread. */
  ConsumerSnapshot snapshot();

  /** The registry the consumer's {@code idem.*} meters are registered in. */
  MeterRegistry meterRegistry();

  /**
   * Finishes the records in work (up to the drain timeout), acknowledges or commits them, leaves
   * the group and releases what idem opened. Ends in state {@code CLOSED}. Idempotent.
   */
  @Override
  void close();
}
