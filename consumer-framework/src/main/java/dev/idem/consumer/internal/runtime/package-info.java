/**
 * The wiring of a consumer.
 *
 * <p>{@link ConsumerParts} holds what a builder collected, checked, and its {@link ProcessingMode}.
 * {@link Pipeline} builds what both runtimes share: the schema and server checks, the transaction
 * environment, the watchdog, the dead letters and the pool opened from {@code pg.*}. {@link
 * Resources} releases what either runtime opened, in one order. {@link ConsumerRuntime} wires the
 * consumer-group mode: its dispatcher, poll loop and threads.
 *
 * <p>It is the top of the internal packages and may use the others. Among them only {@code
 * internal.share} builds on it.
 */
package dev.idem.consumer.internal.runtime;
