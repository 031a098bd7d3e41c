package dev.idem.consumer;

import java.time.Instant;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * What a health endpoint shows about one consumer.
 *
 * @param consumer the consumer's name
 * @param state the lifecycle state
 * @param assigned the partitions assigned to this instance
 * @param lastCommit when the broker last acknowledged an offset commit, or null
 * @param databaseReachable whether a connection could be validated within two seconds just now
 * @param inFlight records handed to workers and not yet done
 * @param stuckWorkers worker threads stuck past {@code consumer.lock-timeout +
 *     consumer.handler-timeout} and a grace: abandoned ones (interrupted, their connection aborted,
 *     replaced by new threads) that have not returned yet, and overdue ones not abandoned
 * @param maxAbandonedWorkers {@code consumer.max-abandoned-workers}: how many abandoned threads may
 *     be alive; an overdue worker past that keeps its slot instead of being replaced
 */
public record ConsumerHealth(
    String consumer,
    ConsumerState state,
    Set<TopicPartition> assigned,
    Instant lastCommit,
    boolean databaseReachable,
    int inFlight,
    int stuckWorkers,
    int maxAbandonedWorkers) {

  public ConsumerHealth {
    assigned = Set.copyOf(assigned);
  }

  /**
   * Running, able to reach the database, and no more stuck workers than may be abandoned: more
   * means a worker hangs that cannot be replaced, so the instance is losing its capacity to
   * process.
   */
  public boolean healthy() {
    return state == ConsumerState.RUNNING
        && databaseReachable
        && stuckWorkers <= maxAbandonedWorkers;
  }
}
