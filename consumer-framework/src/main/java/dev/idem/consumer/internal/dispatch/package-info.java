/**
 * Runs records on worker threads.
 *
 * <p>{@link Dispatcher} keeps a lane per topic-partition and ordering key. A lane runs one record
 * at a time in offset order, and at most {@code consumer.concurrency} runs go at once. Finished
 * records go back to the poll thread as {@link Completion}s. {@link RecordTask} and {@link
 * BatchTask} run one attempt and return a {@link Step}; {@link FailurePolicy} decides what follows
 * a failure. {@link Watchdog} abandons runs whose transaction outlives its timeouts.
 *
 * <p>It uses {@code internal.tx} for the transactions, and {@code internal.metrics}, {@code
 * internal.observation} and {@code internal.store}. {@code internal.poll} and {@code
 * internal.runtime} use it, so it must not use them.
 */
package dev.idem.consumer.internal.dispatch;
