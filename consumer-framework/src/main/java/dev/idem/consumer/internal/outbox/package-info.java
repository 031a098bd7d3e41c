/**
 * The outbox relay's runtime, behind the facade {@code outbox.OutboxRelay}.
 *
 * <p>{@link RelayRuntime} wires a relay from its {@link RelaySettings} and {@link RelayParts}: it
 * owns the leader election, the thread, the producer and the release order. {@code RelayLoop} runs
 * rounds while this instance leads and keeps what the health reports of them. {@code RelayRound} is
 * one round: read unsent rows, send them in one Kafka transaction ({@code RelayProducer}), mark
 * them sent under the leadership's fencing token. Before it sends, a round counts the backlog
 * ({@code Backlog}) and deletes old sent rows ({@code SentRowRetention}), each at its own cadence.
 * {@code RelayTable} runs the table's statements, one transaction each; {@code RelayMeters} holds
 * the {@code idem.outbox.*} meters.
 *
 * <p>It uses {@code internal.store}'s {@code OutboxRows} for its SQL, the lock library's {@code
 * LeaderElection} and the transaction template. Of the public {@code outbox} package it uses only
 * {@code OutboxRelayHealth}, the value it returns; the facade passes in the names the public API
 * defines (the role namespace, the event id header).
 */
package dev.idem.consumer.internal.outbox;
