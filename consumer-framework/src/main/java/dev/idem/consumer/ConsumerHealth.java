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
 */
public record ConsumerHealth(
    String consumer,
    ConsumerState state,
    Set<TopicPartition> assigned,
    Instant lastCommit,
    boolean databaseReachable,
    int inFlight) {

  public ConsumerHealth {
    assigned = Set.copyOf(assigned);
  }

  /** Running and able to reach the database. */
  public boolean healthy() {
    return state == ConsumerState.RUNNING && databaseReachable;
  }
}
