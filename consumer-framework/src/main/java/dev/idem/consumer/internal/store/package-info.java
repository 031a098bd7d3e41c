/**
 * All SQL text of the consumer framework: {@code ArchitectureTest} allows it nowhere else.
 *
 * <p>{@link IdempotencyStore} is the narrow interface of the processing steps, and {@link
 * PostgresIdempotencyStore} its implementation, with {@link TransactionSettings}. The other classes
 * hold the SQL of one table or job each: {@link DeadLetterRows}, {@link OffsetRows}, {@link
 * OutboxRows}, {@link ParkedKeys} (a {@link KeyParking}), {@link RetentionSql}, {@link
 * ServerSettings}. The package uses no other idem package but the public {@code OffsetStore}.
 */
package dev.idem.consumer.internal.store;
