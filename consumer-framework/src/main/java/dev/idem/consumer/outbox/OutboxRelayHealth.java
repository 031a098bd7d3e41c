package dev.idem.consumer.outbox;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * What a health endpoint shows about one instance's outbox relay. A standby (not the leader) is
 * healthy while it runs: it has nothing to do until it is elected. The leader is healthy while its
 * last round succeeded; rounds that fail one after the other (the broker away, the database away, a
 * record the broker refuses) make it unhealthy until one succeeds again. Publishing waits
 * meanwhile; nothing is lost, and the oldest pending age grows.
 *
 * <p>A value: built by the relay, or by {@link #builder(String)}. New fields come with a default,
 * so callers of the builder keep compiling.
 */
public final class OutboxRelayHealth {
  private final String relay;
  private final boolean running;
  private final boolean leader;
  private final long epoch;
  private final Instant lastRound;
  private final int failedRounds;
  private final String lastFailure;
  private final long pendingRows;
  private final Duration oldestPending;

  private OutboxRelayHealth(Builder b) {
    this.relay = b.relay;
    this.running = b.running;
    this.leader = b.leader;
    this.epoch = b.epoch;
    this.lastRound = b.lastRound;
    this.failedRounds = b.failedRounds;
    this.lastFailure = b.lastFailure;
    this.pendingRows = b.pendingRows;
    this.oldestPending = b.oldestPending;
  }

  /** A builder of the health of relay {@code relay}: not running, not leading, until set. */
  public static Builder builder(String relay) {
    return new Builder(relay);
  }

  /** The relay's name. */
  public String relay() {
    return relay;
  }

  /** Started, not closed, and its thread alive. */
  public boolean running() {
    return running;
  }

  /** Whether this instance's relay publishes now. */
  public boolean leader() {
    return leader;
  }

  /** The leadership's fencing epoch, or -1 when not the leader. */
  public long epoch() {
    return epoch;
  }

  /** When this instance last finished a round as leader, empty or not, or null. */
  public Instant lastRound() {
    return lastRound;
  }

  /** Rounds that failed since the last one that succeeded. */
  public int failedRounds() {
    return failedRounds;
  }

  /** The last failed round's error, or null when the last round succeeded. */
  public String lastFailure() {
    return lastFailure;
  }

  /** Unsent rows as the leader last counted (at most a second ago), or -1 when not the leader. */
  public long pendingRows() {
    return pendingRows;
  }

  /** The oldest unsent row's age as the leader last counted, or null when not the leader. */
  public Duration oldestPending() {
    return oldestPending;
  }

  /** Running, and, when leading, its last round succeeded. */
  public boolean healthy() {
    return running && (!leader || failedRounds == 0);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof OutboxRelayHealth h
        && Objects.equals(relay, h.relay)
        && running == h.running
        && leader == h.leader
        && epoch == h.epoch
        && Objects.equals(lastRound, h.lastRound)
        && failedRounds == h.failedRounds
        && Objects.equals(lastFailure, h.lastFailure)
        && pendingRows == h.pendingRows
        && Objects.equals(oldestPending, h.oldestPending);
  }

  @Override
  public int hashCode() {
    return Objects.hash(relay, running, leader, epoch, lastRound, failedRounds, pendingRows);
  }

  @Override
  public String toString() {
    return "OutboxRelayHealth["
        + "relay="
        + relay
        + ", running="
        + running
        + ", leader="
        + leader
        + ", epoch="
        + epoch
        + ", lastRound="
        + lastRound
        + ", failedRounds="
        + failedRounds
        + ", lastFailure="
        + lastFailure
        + ", pendingRows="
        + pendingRows
        + ", oldestPending="
        + oldestPending
        + "]";
  }

  /** Collects a relay health's values; see {@link OutboxRelayHealth#builder(String)}. */
  public static final class Builder {
    private final String relay;
    private boolean running;
    private boolean leader;
    private long epoch = -1;
    private Instant lastRound;
    private int failedRounds;
    private String lastFailure;
    private long pendingRows = -1;
    private Duration oldestPending;

    private Builder(String relay) {
      this.relay = Objects.requireNonNull(relay, "relay");
    }

    /** See {@link OutboxRelayHealth#running()}. */
    public Builder running(boolean running) {
      this.running = running;
      return this;
    }

    /** See {@link OutboxRelayHealth#leader()}. */
    public Builder leader(boolean leader) {
      this.leader = leader;
      return this;
    }

    /** See {@link OutboxRelayHealth#epoch()}. */
    public Builder epoch(long epoch) {
      this.epoch = epoch;
      return this;
    }

    /** See {@link OutboxRelayHealth#lastRound()}. */
    public Builder lastRound(Instant lastRound) {
      this.lastRound = lastRound;
      return this;
    }

    /** See {@link OutboxRelayHealth#failedRounds()}. */
    public Builder failedRounds(int failedRounds) {
      this.failedRounds = failedRounds;
      return this;
    }

    /** See {@link OutboxRelayHealth#lastFailure()}. */
    public Builder lastFailure(String lastFailure) {
      this.lastFailure = lastFailure;
      return this;
    }

    /** See {@link OutboxRelayHealth#pendingRows()}. */
    public Builder pendingRows(long pendingRows) {
      this.pendingRows = pendingRows;
      return this;
    }

    /** See {@link OutboxRelayHealth#oldestPending()}. */
    public Builder oldestPending(Duration oldestPending) {
      this.oldestPending = oldestPending;
      return this;
    }

    /** The health. */
    public OutboxRelayHealth build() {
      return new OutboxRelayHealth(this);
    }
  }
}
