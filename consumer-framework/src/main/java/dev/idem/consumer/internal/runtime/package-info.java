/**
 * The wiring of a consumer.
 *
 * <p>{@link ConsumerParts} holds what a builder collected, checked. {@link Pipeline} builds what
 * both runtimes share: the schema and server checks, the transaction environment, the watchdog, the
 * dead letters and the pool opened from {@code pg.*}. {@link ConsumerRuntime} wires the
 * consumer-group mode, owns its pool, threads and poll loop, and releases them in order.
 *
 * <p>It is the top of the internal packages and may use the others. Among them only {@code
 * internal.share} builds on it.
 */
package dev.idem.consumer.internal.runtime;
