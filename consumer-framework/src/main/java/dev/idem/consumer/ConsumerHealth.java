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
 * <p>A value: built by the consumers, or by {@link #builder(String, ConsumerState)} (in tests of a
 * health endpoint, say). New fields come with a default, so callers of the builder keep compiling.
 */
public final class ConsumerHealth {
  /** A stall timeout no poll thread reaches: the default of {@link Builder#pollStallTimeout}. */
  private static final Duration NEVER = Duration.ofSeconds(Long.MAX_VALUE);

  private final String consumer;
  private final ConsumerState state;
  private final Set<TopicPartition> assigned;
  private final Instant lastCommit;
  private final boolean databaseReachable;
  private final int inFlight;
  private final int stuckWorkers;
  private final int maxAbandonedWorkers;
  private final boolean brokerReachable;
  private final Instant lastPoll;
  private final Duration sinceLastPoll;
  private final Duration pollStallTimeout;

  private ConsumerHealth(Builder b) {
    this.consumer = b.consumer;
    this.state = b.state;
    this.assigned = Set.copyOf(b.assigned);
    this.lastCommit = b.lastCommit;
    this.databaseReachable = b.databaseReachable;
    this.inFlight = b.inFlight;
    this.stuckWorkers = b.stuckWorkers;
    this.maxAbandonedWorkers = b.maxAbandonedWorkers;
    this.brokerReachable = b.brokerReachable;
    this.lastPoll = b.lastPoll;
    this.sinceLastPoll = b.sinceLastPoll;
    this.pollStallTimeout = b.pollStallTimeout;
  }

  /**
   * A builder of the health of {@code consumer} in {@code state}: nothing assigned, committed or in
   * flight, neither server reachable, no poll yet, never stalled, until set otherwise.
   */
  public static Builder builder(String consumer, ConsumerState state) {
    return new Builder(consumer, state);
  }

  /** A builder holding this health's values, to change some. */
  public Builder toBuilder() {
    return new Builder(consumer, state)
        .assigned(assigned)
        .lastCommit(lastCommit)
        .databaseReachable(databaseReachable)
        .inFlight(inFlight)
        .stuckWorkers(stuckWorkers)
        .maxAbandonedWorkers(maxAbandonedWorkers)
        .brokerReachable(brokerReachable)
        .lastPoll(lastPoll)
        .sinceLastPoll(sinceLastPoll)
        .pollStallTimeout(pollStallTimeout);
  }

  /** The consumer's name. */
  public String consumer() {
    return consumer;
  }

  /** The lifecycle state. */
  public ConsumerState state() {
    return state;
  }

  /** The partitions assigned to this instance (none in a share group). */
  public Set<TopicPartition> assigned() {
    return assigned;
  }

  /** When the broker last acknowledged an offset commit (or acknowledgements), or null. */
  public Instant lastCommit() {
    return lastCommit;
  }

  /** Whether a connection could be validated within two seconds just now. */
  public boolean databaseReachable() {
    return databaseReachable;
  }

  /** Records handed to workers and not yet done. */
  public int inFlight() {
    return inFlight;
  }

  /**
   * Worker threads stuck past {@code consumer.lock-timeout + consumer.handler-timeout} and a grace:
   * abandoned ones (interrupted, their connection aborted, replaced by new threads) that have not
   * returned yet, and overdue ones not abandoned.
   */
  public int stuckWorkers() {
    return stuckWorkers;
  }

  /**
   * {@code consumer.max-abandoned-workers}: how many abandoned threads may be alive; an overdue
   * worker past that keeps its slot instead of being replaced.
   */
  public int maxAbandonedWorkers() {
    return maxAbandonedWorkers;
  }

  /**
   * Whether the Kafka client held at least one open connection to a broker at the poll thread's
   * last snapshot (the client's {@code connection-count} metric, read on the poll thread after
   * every poll): false within a poll or two of the brokers going away, true again at the first poll
   * after one answers. A broker that accepts connections but does not answer is not seen until the
   * client's {@code request.timeout.ms} closes them. False before the first poll.
   */
  public boolean brokerReachable() {
    return brokerReachable;
  }

  /**
   * When the poll thread last published a snapshot (after every poll, and in rebalance callbacks),
   * or null before its first.
   */
  public Instant lastPoll() {
    return lastPoll;
  }

  /**
   * How long ago, on the monotonic clock, the poll thread last published a snapshot, or before its
   * first, how long ago the consumer started running; zero before start.
   */
  public Duration sinceLastPoll() {
    return sinceLastPoll;
  }

  /**
   * How long a running consumer's poll thread may stay silent before it counts as stalled: {@code
   * consumer.drain-timeout + 10 x consumer.poll-timeout + 30 s} (41 s with the defaults), above the
   * longest bounded wait the loop makes (see {@code docs/operations.md}).
   */
  public Duration pollStallTimeout() {
    return pollStallTimeout;
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

  @Override
  public boolean equals(Object o) {
    return o instanceof ConsumerHealth h
        && consumer.equals(h.consumer)
        && state == h.state
        && assigned.equals(h.assigned)
        && Objects.equals(lastCommit, h.lastCommit)
        && databaseReachable == h.databaseReachable
        && inFlight == h.inFlight
        && stuckWorkers == h.stuckWorkers
        && maxAbandonedWorkers == h.maxAbandonedWorkers
        && brokerReachable == h.brokerReachable
        && Objects.equals(lastPoll, h.lastPoll)
        && sinceLastPoll.equals(h.sinceLastPoll)
        && pollStallTimeout.equals(h.pollStallTimeout);
  }

  @Override
  public int hashCode() {
    return Objects.hash(consumer, state, assigned, lastCommit, inFlight, stuckWorkers, lastPoll);
  }

  @Override
  public String toString() {
    return "ConsumerHealth[consumer="
        + consumer
        + ", state="
        + state
        + ", ready="
        + ready()
        + ", live="
        + live()
        + ", assigned="
        + assigned
        + ", lastCommit="
        + lastCommit
        + ", databaseReachable="
        + databaseReachable
        + ", brokerReachable="
        + brokerReachable
        + ", inFlight="
        + inFlight
        + ", stuckWorkers="
        + stuckWorkers
        + "/"
        + maxAbandonedWorkers
        + ", lastPoll="
        + lastPoll
        + ", sinceLastPoll="
        + sinceLastPoll
        + "]";
  }

  /** Collects a health's values; see {@link ConsumerHealth#builder(String, ConsumerState)}. */
  public static final class Builder {
    private final String consumer;
    private final ConsumerState state;
    private Set<TopicPartition> assigned = Set.of();
    private Instant lastCommit;
    private boolean databaseReachable;
    private int inFlight;
    private int stuckWorkers;
    private int maxAbandonedWorkers;
    private boolean brokerReachable;
    private Instant lastPoll;
    private Duration sinceLastPoll = Duration.ZERO;
    private Duration pollStallTimeout = NEVER;

    private Builder(String consumer, ConsumerState state) {
      this.consumer = Objects.requireNonNull(consumer, "consumer");
      this.state = Objects.requireNonNull(state, "state");
    }

    /** See {@link ConsumerHealth#assigned()}. */
    public Builder assigned(Set<TopicPartition> assigned) {
      this.assigned = Objects.requireNonNull(assigned, "assigned");
      return this;
    }

    /** See {@link ConsumerHealth#lastCommit()}. */
    public Builder lastCommit(Instant lastCommit) {
      this.lastCommit = lastCommit;
      return this;
    }

    /** See {@link ConsumerHealth#databaseReachable()}. */
    public Builder databaseReachable(boolean reachable) {
      this.databaseReachable = reachable;
      return this;
    }

    /** See {@link ConsumerHealth#inFlight()}. */
    public Builder inFlight(int records) {
      this.inFlight = records;
      return this;
    }

    /** See {@link ConsumerHealth#stuckWorkers()}. */
    public Builder stuckWorkers(int workers) {
      this.stuckWorkers = workers;
      return this;
    }

    /** See {@link ConsumerHealth#maxAbandonedWorkers()}. */
    public Builder maxAbandonedWorkers(int workers) {
      this.maxAbandonedWorkers = workers;
      return this;
    }

    /** See {@link ConsumerHealth#brokerReachable()}. */
    public Builder brokerReachable(boolean reachable) {
      this.brokerReachable = reachable;
      return this;
    }

    /** See {@link ConsumerHealth#lastPoll()}. */
    public Builder lastPoll(Instant lastPoll) {
      this.lastPoll = lastPoll;
      return this;
    }

    /** See {@link ConsumerHealth#sinceLastPoll()}. */
    public Builder sinceLastPoll(Duration since) {
      this.sinceLastPoll = Objects.requireNonNull(since, "sinceLastPoll");
      return this;
    }

    /** See {@link ConsumerHealth#pollStallTimeout()}. */
    public Builder pollStallTimeout(Duration timeout) {
      this.pollStallTimeout = Objects.requireNonNull(timeout, "pollStallTimeout");
      return this;
    }

    /** The health. */
    public ConsumerHealth build() {
      return new ConsumerHealth(this);
    }
  }
}
