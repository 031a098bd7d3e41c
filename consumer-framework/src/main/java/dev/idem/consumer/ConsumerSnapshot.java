package dev.idem.consumer;

import java.time.Instant;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * A consistent view of a consumer, published by its poll thread (the only thread that may touch the
 * Kafka client) after every poll.
 *
 * @param state the lifecycle state
 * @param assigned the partitions assigned to this instance
 * @param paused the partitions paused: for backpressure (the whole consumer, or one partition at
 *     its own bound), or while their stored position is read
 * @param uncommitted per assigned partition, the records tracked above its committable offset
 *     (finished or not), bounded by {@code consumer.max-uncommitted-per-partition} plus one poll
 * @param committed per partition, the last offset the broker acknowledged as committed by this
 *     instance
 * @param inFlight records handed to workers and not yet done
 * @param inFlightBytes bytes of keys and values of those records
 * @param processed records whose handler ran and committed
 * @param duplicates records skipped because their event id was already handled
 * @param failures failed attempts
 * @param retries attempts scheduled after a failure
 * @param deadLettered records written to the dead letters
 * @param skipped records not processed because PostgreSQL already recorded their offset as done
 *     ({@link OffsetStore#POSTGRESQL} only)
 * @param rebalances rebalances this instance took part in (assignment callbacks received)
 * @param stuckWorkers worker threads stuck past their timeouts (see {@link
 *     ConsumerHealth#stuckWorkers()})
 * @param lastCommit when the broker last acknowledged a commit, or null
 * @param brokerReachable whether the Kafka client held at least one open connection to a broker
 *     when this snapshot was taken (its own {@code connection-count} metric; see {@link
 *     ConsumerHealth#brokerReachable()})
 * @param at when this snapshot was taken
 */
public record ConsumerSnapshot(
    ConsumerState state,
    Set<TopicPartition> assigned,
    Set<TopicPartition> paused,
    Map<TopicPartition, Integer> uncommitted,
    Map<TopicPartition, Long> committed,
    int inFlight,
    long inFlightBytes,
    long processed,
    long duplicates,
    long failures,
    long retries,
    long deadLettered,
    long skipped,
    long rebalances,
    int stuckWorkers,
    Instant lastCommit,
    boolean brokerReachable,
    Instant at) {

  public ConsumerSnapshot {
    assigned = Set.copyOf(assigned);
    paused = Set.copyOf(paused);
    uncommitted = Map.copyOf(uncommitted);
    committed = Map.copyOf(committed);
  }

  static ConsumerSnapshot initial(ConsumerState state, Instant at) {
    return new ConsumerSnapshot(
        state, Set.of(), Set.of(), Map.of(), Map.of(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, null, false,
        at);
  }
}
