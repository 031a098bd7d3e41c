package dev.idem.consumer.outbox;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.outbox.RelayParts;
import dev.idem.consumer.internal.outbox.RelayRuntime;
import dev.idem.consumer.internal.outbox.RelaySettings;
import dev.idem.lock.AdvisoryLocks;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.ProducerConfig;

/**
 * Publishes the outbox's committed records to Kafka: on one instance at a time (the lock toolkit's
 * leader election on role {@code idem.outbox-relay/<name>}), in id order, which per key is commit
 * order (see {@link Outbox}), each round's records in one Kafka transaction, then marks them sent
 * in a database transaction fenced by the leadership's epoch.
 *
 * <p>At least once: a relay that dies between the Kafka commit and the mark sends the round again
 * under the next leader; the copies carry the same {@value Outbox#EVENT_ID_HEADER}, which a
 * downstream idem consumer deduplicates on. Order per key holds across such repeats: a round is
 * sent in id order, and a failed round (an unacknowledged send, a broker away) is aborted whole (a
 * {@code read_committed} reader, as idem's consumers are, sees none of it) and sent again from its
 * first row. A stale leader is fenced twice: the broker refuses its producer once the new leader's
 * producer with the same {@code transactional.id} started, and the database refuses its mark once
 * the new leader's epoch is committed.
 *
 * <p>Latency: an idle relay polls every {@code pollInterval} (default 100 ms, one indexed query on
 * the pending rows); after a round that found rows the next one starts at once.
 */
public final class OutboxRelay implements AutoCloseable {
  /** The leader-election namespace of relays. */
  public static final String ROLE_NAMESPACE = "idem.outbox-relay";

  private final RelayRuntime runtime;

  private OutboxRelay(RelayRuntime runtime) {
    this.runtime = runtime;
  }

  /**
   * A relay of {@code outbox} on {@code dataSource}, electing its leader with {@code locks}.
   *
   * @param kafka producer settings: {@code bootstrap.servers} at least; idempotence, {@code
   *     acks=all} and a {@code transactional.id} ({@code idem-outbox-relay-<name>} unless given:
   *     every instance of one relay must share it, so that a new leader fences the old) are set
   */
  public static Builder builder(
      Outbox outbox, DataSource dataSource, AdvisoryLocks locks, Map<String, Object> kafka) {
    return new Builder(outbox, dataSource, locks, kafka);
  }

  /** Starts competing for the relay's role and, while leader, publishing. */
  public void start() {
    runtime.start();
  }

  /** Whether this instance is the relay's leader now. */
  public boolean isLeader() {
    return runtime.isLeader();
  }

  /** This instance's relay as a health endpoint shows it; see {@link OutboxRelayHealth}. */
  public OutboxRelayHealth health() {
    return runtime.health();
  }

  /** Rounds this instance ran as leader (a round reads pending rows, empty or not). */
  public long rounds() {
    return runtime.rounds();
  }

  /** Stops publishing (finishing the round under way) and hands the leadership over. */
  @Override
  public void close() {
    runtime.close();
  }

  /** Settings of an {@link OutboxRelay}. */
  public static final class Builder {
    private final Outbox outbox;
    private final DataSource dataSource;
    private final AdvisoryLocks locks;
    private final Map<String, Object> kafka;
    private String name;
    private Duration pollInterval = Duration.ofMillis(100);
    private Duration leaderPing = Duration.ofSeconds(1);
    private int batchSize = 500;
    private Duration retention = Duration.ofHours(24);
    private MeterRegistry registry;
    private FaultHook faults = FaultHook.NONE;

    private Builder(
        Outbox outbox, DataSource dataSource, AdvisoryLocks locks, Map<String, Object> kafka) {
      this.outbox = Objects.requireNonNull(outbox, "outbox");
      this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
      this.locks = Objects.requireNonNull(locks, "locks");
      this.kafka = Map.copyOf(Objects.requireNonNull(kafka, "kafka"));
      if (!kafka.containsKey(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG)) {
        throw new IllegalArgumentException("outbox relay needs kafka bootstrap.servers");
      }
    }

    /**
     * The relay's name, required: its leader role ({@code idem.outbox-relay/<name>}) and its
     * producer's {@code transactional.id} ({@code idem-outbox-relay-<name>}). Every instance of one
     * relay shares it, and no other relay on the same Kafka cluster or database may use it: two
     * relays of one name would fence each other's producers, or one of them would never publish.
     */
    public Builder name(String name) {
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException("outbox relay name must not be blank");
      }
      this.name = name;
      return this;
    }

    /** How often an idle leader looks for new rows (default 100 ms, at least 10 ms). */
    public Builder pollInterval(Duration interval) {
      if (interval.toMillis() < 10) {
        throw new IllegalArgumentException("outbox relay poll interval must be at least 10 ms");
      }
      this.pollInterval = interval;
      return this;
    }

    /** The leader election's ping interval (default 1 s). */
    public Builder leaderPing(Duration ping) {
      this.leaderPing = ping;
      return this;
    }

    /** Rows per round, one Kafka transaction each (default 500). */
    public Builder batchSize(int rows) {
      if (rows < 1) {
        throw new IllegalArgumentException("outbox relay batch size must be at least 1");
      }
      this.batchSize = rows;
      return this;
    }

    /** How long sent rows are kept (default 24 h); null keeps them. */
    public Builder retention(Duration retention) {
      this.retention = retention;
      return this;
    }

    /** Where the relay's meters go (default a private registry). */
    public Builder meterRegistry(MeterRegistry registry) {
      this.registry = registry;
      return this;
    }

    /** Fault injection for idem's own tests, reached through {@code FaultAccess} only. */
    Builder faultHook(FaultHook hook) {
      this.faults = Objects.requireNonNull(hook, "hook");
      return this;
    }

    /**
     * The relay.
     *
     * @throws IllegalStateException when no {@link #name(String)} was given
     */
    public OutboxRelay build() {
      if (name == null) {
        throw new IllegalStateException(
            "outbox relay needs a name of its own (Builder.name): it is the leader role and the"
                + " producer's transactional.id, shared by the relay's instances and by no other"
                + " relay");
      }
      return new OutboxRelay(
          new RelayRuntime(
              new RelaySettings(
                  name,
                  ROLE_NAMESPACE,
                  Outbox.EVENT_ID_HEADER,
                  kafka,
                  pollInterval,
                  leaderPing,
                  batchSize,
                  retention),
              new RelayParts(outbox.rows(), dataSource, locks, registry, faults)));
    }
  }
}
