/**
 * The transactional outbox. See {@code docs/outbox.md}.
 *
 * <p>{@link Outbox#publish} writes an {@link OutboxRecord} on the caller's connection, in the
 * caller's transaction. A transaction-scoped advisory lock per topic and key keeps the rows of one
 * key in commit order. {@link OutboxRelay} publishes committed rows to Kafka on one instance at a
 * time, elected with the lock library's {@code LeaderElection}, and marks them sent under its
 * fencing token. {@link OutboxRelayHealth} is what it reports.
 *
 * <p>{@code OutboxRelay} is a facade: its loop, election, producer, rounds and retention are in
 * {@code internal.outbox}. Its SQL is in {@code internal.store.OutboxRows}, its table in the script
 * sets of {@code internal.schema}.
 */
package dev.idem.consumer.outbox;
