/**
 * The poll loop.
 *
 * <p>{@link PollLoop} is the one thread that touches the Kafka client. It polls, hands records to
 * the dispatcher, folds completions into the offset tracker and commits. It also pauses partitions
 * for backpressure, handles rebalances and publishes a snapshot after each poll. {@link
 * PollSettings} and {@link OrderingKeyValues} serve it. It uses {@code internal.dispatch}, {@code
 * internal.offset}, {@code internal.lifecycle}, {@code internal.health} and {@code
 * internal.metrics}.
 */
package dev.idem.consumer.internal.poll;
