package dev.idem.consumer;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * What a health endpoint shows about one consumer, and its two answers for probes: {@link #ready()}
 * (should this instance get traffic: is it doing its job right now) and {@link #live()} (is its
 * poll loop alive: would a restart help). An outage of the database or the broker makes a consumer
 * not ready but leaves it live: a restarted instance would meet the same outage.
 *
 * <table>
 *   <caption>The answers by state</caption>
 *   <tr><th>state</th><th>ready()</th><th>live()</th></tr>
 *   <tr><td>{@code CREATED}, {@code STARTING}</td><td>false</td><td>true</td></tr>
 *   <tr><td>{@code RUNNING}</td><td>see {@link #ready()}</td><td>unless the poll loop
 *       stalled</td></tr>
 *   <tr><td>{@code CLOSING}, {@code CLOSED}</td><td>false</td><td>true: closed on purpose, not
 *       dead</td></tr>
 *   <tr><td>{@code FAILED}</td><td>false</td><td>false</td></tr>
 * </table>
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
 * @param brokerReachable whether the Kafka client held at least one open connection to a broker at
 *     the poll thread's last snapshot (the client's {@code connection-count} metric, read on the
 *     poll thread after every poll): false within a poll or two of the brokers going away, true
 *     again at the first poll after one answers. A broker that accepts connections but does not
 *     answer is not seen until the client's {@code request.timeout.ms} closes them. False before
 *     the first poll.
 * @param lastPoll when the poll thread last published a snapshot (after every poll, and in
 *     rebalance callbacks), or null before its first
 * @param sinceLastPoll how long ago, on the monotonic clock, the poll thread last published a
 *     snapshot, or before its first, how long ago the consumer started running; zero before start
 * @param pollStallTimeout how long a running consumer's poll thread may stay silent before it
 *     counts as stalled: {@code consumer.drain-timeout + 10 x consumer.poll-timeout + 30 s} (41 s
 *     with the defaults), above the longest bounded wait the loop makes (see {@code
 *     docs/operations.md})
 */
public record ConsumerHealth(
    String consumer,
    ConsumerState state,
    Set<TopicPartition> assigned,
    Instant lastCommit,
    boolean databaseReachable,
    int inFlight,
    int stuckWorkers,
    int maxAbandonedWorkers,
    boolean brokerReachable,
    Instant lastPoll,
    Duration sinceLastPoll,
    Duration pollStallTimeout) {

  /**
   * @throws NullPointerException when {@code assigned}, {@code sinceLastPoll} or {@code
   *     pollStallTimeout} is null
   */
  public ConsumerHealth {
    assigned = Set.copyOf(assigned);
    Objects.requireNonNull(sinceLastPoll, "sinceLastPoll");
    Objects.requireNonNull(pollStallTimeout, "pollStallTimeout");
  }

  /**
   * Whether this instance is doing its job right now and should get traffic: running, its poll loop
   * not stalled, the database and a broker reachable, and no more stuck workers than may be
   * abandoned (more means a worker hangs that cannot be replaced, so the instance is losing its
   * capacity to process). False before start, while starting, closing or closed, and when failed.
   */
  public boolean ready() {
    return state == ConsumerState.RUNNING
        && !pollStalled()
        && databaseReachable
        && brokerReachable
        && stuckWorkers <= maxAbandonedWorkers;
  }

  /**
   * Whether the poll loop is alive; false only when it is dead: the consumer {@code FAILED}, or,
   * while {@code RUNNING}, its poll thread silent for longer than {@link #pollStallTimeout()}.
   * Outages of the database or the broker leave it true (the poll thread goes on polling through
   * them), and so do {@code CREATED}, {@code STARTING}, {@code CLOSING} and {@code CLOSED}: a
   * closed consumer was closed on purpose and is not a dead one.
   */
  public boolean live() {
    return state != ConsumerState.FAILED && !pollStalled();
  }

  /**
   * Whether the consumer is {@code RUNNING} and its poll thread has not published a snapshot for
   * longer than {@link #pollStallTimeout()}.
   */
  public boolean pollStalled() {
    return state == ConsumerState.RUNNING && sinceLastPoll.compareTo(pollStallTimeout) > 0;
  }

  /**
   * The same as {@link #ready()}; kept for callers of the single answer that came before the two.
   * It now also needs a reachable broker and a poll loop that is not stalled.
   */
  public boolean healthy() {
    return ready();
  }
}
