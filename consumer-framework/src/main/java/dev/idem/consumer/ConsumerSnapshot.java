package dev.idem.consumer;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * A consistent view of a consumer, published by its poll thread (the only thread that may touch the
 * Kafka client) after every poll.
 *
 * <p>A value: built by the poll thread, or by {@link #builder(ConsumerState, Instant)}. New fields
 * come with a default, so callers of the builder keep compiling.
 */
public final class ConsumerSnapshot {
  private final ConsumerState state;
  private final Set<TopicPartition> assigned;
  private final Set<TopicPartition> paused;
  private final Map<TopicPartition, Integer> uncommitted;
  private final Map<TopicPartition, Long> committed;
  private final int inFlight;
  private final long inFlightBytes;
  private final long processed;
  private final long duplicates;
  private final long failures;
  private final long retries;
  private final long deadLettered;
  private final long skipped;
  private final long rebalances;
  private final int stuckWorkers;
  private final Instant lastCommit;
  private final boolean brokerReachable;
  private final Instant at;

  private ConsumerSnapshot(Builder b) {
    this.state = b.state;
    this.assigned = Set.copyOf(b.assigned);
    this.paused = Set.copyOf(b.paused);
    this.uncommitted = Map.copyOf(b.uncommitted);
    this.committed = Map.copyOf(b.committed);
    this.inFlight = b.inFlight;
    this.inFlightBytes = b.inFlightBytes;
    this.processed = b.processed;
    this.duplicates = b.duplicates;
    this.failures = b.failures;
    this.retries = b.retries;
    this.deadLettered = b.deadLettered;
    this.skipped = b.skipped;
    this.rebalances = b.rebalances;
    this.stuckWorkers = b.stuckWorkers;
    this.lastCommit = b.lastCommit;
    this.brokerReachable = b.brokerReachable;
    this.at = b.at;
  }

  /**
   * A builder of a snapshot in {@code state} taken {@code at}: nothing assigned, paused, tracked or
   * counted, no commit, no broker connection, until set otherwise.
   */
  public static Builder builder(ConsumerState state, Instant at) {
    return new Builder(state, at);
  }

  /** A builder holding this snapshot's values, to change some. */
  public Builder toBuilder() {
    Builder b = new Builder(state, at);
    b.assigned = assigned;
    b.paused = paused;
    b.uncommitted = uncommitted;
    b.committed = committed;
    b.inFlight = inFlight;
    b.inFlightBytes = inFlightBytes;
    b.processed = processed;
    b.duplicates = duplicates;
    b.failures = failures;
    b.retries = retries;
    b.deadLettered = deadLettered;
    b.skipped = skipped;
    b.rebalances = rebalances;
    b.stuckWorkers = stuckWorkers;
    b.lastCommit = lastCommit;
    b.brokerReachable = brokerReachable;
    return b;
  }

  /** The lifecycle state. */
  public ConsumerState state() {
    return state;
  }

  /** The partitions assigned to this instance. */
  public Set<TopicPartition> assigned() {
    return assigned;
  }

  /**
   * The partitions paused: for backpressure (the whole consumer, or one partition at its own
   * bound), or while their stored position is read.
   */
  public Set<TopicPartition> paused() {
    return paused;
  }

  /**
   * Per assigned partition, the records tracked above its committable offset (finished or not),
   * bounded by {@code consumer.max-uncommitted-per-partition} plus one poll.
   */
  public Map<TopicPartition, Integer> uncommitted() {
    return uncommitted;
  }

  /** Per partition, the last offset the broker acknowledged as committed by this instance. */
  public Map<TopicPartition, Long> committed() {
    return committed;
  }

  /** Records handed to workers and not yet done. */
  public int inFlight() {
    return inFlight;
  }

  /** Bytes of keys and values of the records in flight. */
  public long inFlightBytes() {
    return inFlightBytes;
  }

  /** Records whose handler ran and committed. */
  public long processed() {
    return processed;
  }

  /** Records skipped because their event id was already handled. */
  public long duplicates() {
    return duplicates;
  }

  /** Failed attempts. */
  public long failures() {
    return failures;
  }

  /** Attempts scheduled after a failure. */
  public long retries() {
    return retries;
  }

  /** Records written to the dead letters. */
  public long deadLettered() {
    return deadLettered;
  }

  /**
   * Records not processed because PostgreSQL already recorded their offset as done ({@link
   * OffsetStore#POSTGRESQL} only).
   */
  public long skipped() {
    return skipped;
  }

  /** Rebalances this instance took part in (assignment callbacks received). */
  public long rebalances() {
    return rebalances;
  }

  /** Worker threads stuck past their timeouts (see {@link ConsumerHealth#stuckWorkers()}). */
  public int stuckWorkers() {
    return stuckWorkers;
  }

  /** When the broker last acknowledged a commit, or null. */
  public Instant lastCommit() {
    return lastCommit;
  }

  /**
   * Whether the Kafka client held at least one open connection to a broker when this snapshot was
   * taken (its own {@code connection-count} metric; see {@link ConsumerHealth#brokerReachable()}).
   */
  public boolean brokerReachable() {
    return brokerReachable;
  }

  /** When this snapshot was taken. */
  public Instant at() {
    return at;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof ConsumerSnapshot other)) {
      return false;
    }
    return state == other.state
        && Objects.equals(assigned, other.assigned)
        && Objects.equals(paused, other.paused)
        && Objects.equals(uncommitted, other.uncommitted)
        && Objects.equals(committed, other.committed)
        && inFlight == other.inFlight
        && inFlightBytes == other.inFlightBytes
        && processed == other.processed
        && duplicates == other.duplicates
        && failures == other.failures
        && retries == other.retries
        && deadLettered == other.deadLettered
        && skipped == other.skipped
        && rebalances == other.rebalances
        && stuckWorkers == other.stuckWorkers
        && Objects.equals(lastCommit, other.lastCommit)
        && brokerReachable == other.brokerReachable
        && Objects.equals(at, other.at);
  }

  @Override
  public int hashCode() {
    return Objects.hash(state, assigned, inFlight, processed, duplicates, failures, at);
  }

  @Override
  public String toString() {
    return "ConsumerSnapshot["
        + "state="
        + state
        + ", assigned="
        + assigned
        + ", paused="
        + paused
        + ", uncommitted="
        + uncommitted
        + ", committed="
        + committed
        + ", inFlight="
        + inFlight
        + ", inFlightBytes="
        + inFlightBytes
        + ", processed="
        + processed
        + ", duplicates="
        + duplicates
        + ", failures="
        + failures
        + ", retries="
        + retries
        + ", deadLettered="
        + deadLettered
        + ", skipped="
        + skipped
        + ", rebalances="
        + rebalances
        + ", stuckWorkers="
        + stuckWorkers
        + ", lastCommit="
        + lastCommit
        + ", brokerReachable="
        + brokerReachable
        + ", at="
        + at
        + "]";
  }

  /** Collects a snapshot's values; see {@link ConsumerSnapshot#builder(ConsumerState, Instant)}. */
  public static final class Builder {
    private ConsumerState state;
    private Set<TopicPartition> assigned = Set.of();
    private Set<TopicPartition> paused = Set.of();
    private Map<TopicPartition, Integer> uncommitted = Map.of();
    private Map<TopicPartition, Long> committed = Map.of();
    private int inFlight;
    private long inFlightBytes;
    private long processed;
    private long duplicates;
    private long failures;
    private long retries;
    private long deadLettered;
    private long skipped;
    private long rebalances;
    private int stuckWorkers;
    private Instant lastCommit;
    private boolean brokerReachable;
    private Instant at;

    private Builder(ConsumerState state, Instant at) {
      this.state = Objects.requireNonNull(state, "state");
      this.at = Objects.requireNonNull(at, "at");
    }

    /** See {@link ConsumerSnapshot#state()}. */
    public Builder state(ConsumerState state) {
      this.state = Objects.requireNonNull(state, "state");
      return this;
    }

    /** See {@link ConsumerSnapshot#assigned()}. */
    public Builder assigned(Set<TopicPartition> assigned) {
      this.assigned = Objects.requireNonNull(assigned, "assigned");
      return this;
    }

    /** See {@link ConsumerSnapshot#paused()}. */
    public Builder paused(Set<TopicPartition> paused) {
      this.paused = Objects.requireNonNull(paused, "paused");
      return this;
    }

    /** See {@link ConsumerSnapshot#uncommitted()}. */
    public Builder uncommitted(Map<TopicPartition, Integer> uncommitted) {
      this.uncommitted = Objects.requireNonNull(uncommitted, "uncommitted");
      return this;
    }

    /** See {@link ConsumerSnapshot#committed()}. */
    public Builder committed(Map<TopicPartition, Long> committed) {
      this.committed = Objects.requireNonNull(committed, "committed");
      return this;
    }

    /** See {@link ConsumerSnapshot#inFlight()}. */
    public Builder inFlight(int inFlight) {
      this.inFlight = inFlight;
      return this;
    }

    /** See {@link ConsumerSnapshot#inFlightBytes()}. */
    public Builder inFlightBytes(long inFlightBytes) {
      this.inFlightBytes = inFlightBytes;
      return this;
    }

    /** See {@link ConsumerSnapshot#processed()}. */
    public Builder processed(long processed) {
      this.processed = processed;
      return this;
    }

    /** See {@link ConsumerSnapshot#duplicates()}. */
    public Builder duplicates(long duplicates) {
      this.duplicates = duplicates;
      return this;
    }

    /** See {@link ConsumerSnapshot#failures()}. */
    public Builder failures(long failures) {
      this.failures = failures;
      return this;
    }

    /** See {@link ConsumerSnapshot#retries()}. */
    public Builder retries(long retries) {
      this.retries = retries;
      return this;
    }

    /** See {@link ConsumerSnapshot#deadLettered()}. */
    public Builder deadLettered(long deadLettered) {
      this.deadLettered = deadLettered;
      return this;
    }

    /** See {@link ConsumerSnapshot#skipped()}. */
    public Builder skipped(long skipped) {
      this.skipped = skipped;
      return this;
    }

    /** See {@link ConsumerSnapshot#rebalances()}. */
    public Builder rebalances(long rebalances) {
      this.rebalances = rebalances;
      return this;
    }

    /** See {@link ConsumerSnapshot#stuckWorkers()}. */
    public Builder stuckWorkers(int stuckWorkers) {
      this.stuckWorkers = stuckWorkers;
      return this;
    }

    /** See {@link ConsumerSnapshot#lastCommit()}. */
    public Builder lastCommit(Instant lastCommit) {
      this.lastCommit = lastCommit;
      return this;
    }

    /** See {@link ConsumerSnapshot#brokerReachable()}. */
    public Builder brokerReachable(boolean brokerReachable) {
      this.brokerReachable = brokerReachable;
      return this;
    }

    /** The snapshot. */
    public ConsumerSnapshot build() {
      return new ConsumerSnapshot(this);
    }
  }
}
