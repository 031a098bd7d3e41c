/**
 * Retention of processed marks.
 *
 * <p>{@link RetentionJob} deletes old marks in bounded batches as a singleton job of the lock
 * library. {@link RetentionSchedule} runs it every {@code consumer.retention.interval}. {@link
 * TopicRetentionGuard} refuses a topic that can redeliver records for longer than marks are kept,
 * or warns when offsets are kept in PostgreSQL. It uses {@code internal.store}'s {@code
 * RetentionSql}, the lock library and the shared transaction template.
 */
package dev.idem.consumer.internal.retention;
