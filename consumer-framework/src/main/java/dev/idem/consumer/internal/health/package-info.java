/**
 * What a consumer's health is built from, besides its snapshot.
 *
 * <p>{@link DatabaseProbe} checks in the background whether the database answers, so a health call
 * does no I/O. {@link PollStall} bounds how long a poll thread may stay silent before it counts as
 * dead. {@link BrokerConnections} reads a Kafka client's open broker connections. {@link
 * ServerCheck} checks the pool and the server at start. It uses {@code internal.store}'s {@code
 * ServerSettings} and the shared transaction template.
 */
package dev.idem.consumer.internal.health;
