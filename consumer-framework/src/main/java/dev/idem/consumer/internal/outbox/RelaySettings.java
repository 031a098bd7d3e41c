package dev.idem.consumer.internal.outbox;

import java.time.Duration;
import java.util.Map;

/**
 * What a relay does, copied out of its builder by {@code build()}, which checked the values.
 *
 * @param name the relay's name: its leader role and its producer's {@code transactional.id}
 * @param roleNamespace the leader-election namespace of relays
 * @param eventIdHeader the header that carries a published record's event id
 * @param kafka the producer settings the user gave ({@code bootstrap.servers} at least)
 * @param pollInterval how often an idle leader looks for new rows
 * @param leaderPing the leader election's ping interval
 * @param batchSize rows per round, one Kafka transaction each
 * @param retention how long sent rows are kept, or null to keep them
 */
public record RelaySettings(
    String name,
    String roleNamespace,
    String eventIdHeader,
    Map<String, Object> kafka,
    Duration pollInterval,
    Duration leaderPing,
    int batchSize,
    Duration retention) {}
