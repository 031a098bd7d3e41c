/**
 * Publishing dead letters beyond the table.
 *
 * <p>{@link DeadLetterPublisher#NONE} is used when no {@code consumer.dead-letter-topic} is set;
 * {@link KafkaDeadLetterPublisher} sends the record and {@code idem.*} headers to that topic.
 * {@code internal.tx} calls it inside the dead letter's transaction, so a failed publish rolls the
 * row back. It uses {@code internal.store}'s {@code DeadLetter} record and no other internal
 * package.
 */
package dev.idem.consumer.internal.deadletter;
