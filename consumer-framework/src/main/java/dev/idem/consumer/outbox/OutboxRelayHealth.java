package dev.idem.consumer.outbox;

import java.time.Duration;
import java.time.Instant;

/**
 * What a health endpoint shows about one instance's outbox relay. A standby (not the leader) is
 * healthy while it runs: it has nothing to do until it is elected. The leader is healthy while its
 * last round succeeded; rounds that fail one after the other (the broker away, the database away, a
 * record the broker refuses) make it unhealthy until one succeeds again. Publishing waits
 * meanwhile; nothing is lost, and the oldest pending age grows.
 *
 * @param relay the relay's name
 * @param running started, not closed, and its thread alive
 * @param leader whether this instance's relay publishes now
 * @param epoch the leadership's fencing epoch, or -1 when not the leader
 * @param lastRound when this instance last finished a round as leader, empty or not, or null
 * @param failedRounds rounds that failed since the last one that succeeded
 * @param lastFailure the last failed round's error, or null when the last round succeeded
 * @param pendingRows unsent rows as the leader last counted (at most a second ago), or -1 when not
 *     the leader
 * @param oldestPending the oldest unsent row's age as the leader last counted, or null when not the
 *     leader
 */
public record OutboxRelayHealth(
    String relay,
    boolean running,
    boolean leader,
    long epoch,
    Instant lastRound,
    int failedRounds,
    String lastFailure,
    long pendingRows,
    Duration oldestPending) {

  /** Running, and, when leading, its last round succeeded. */
  public boolean healthy() {
    return running && (!leader || failedRounds == 0);
  }
}
