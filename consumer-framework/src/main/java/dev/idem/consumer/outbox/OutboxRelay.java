package dev.idem.consumer.outbox;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.store.OutboxRows;
import dev.idem.consumer.internal.store.OutboxRows.Row;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.FencingToken;
import dev.idem.lock.LeaderElection;
import dev.idem.lock.LeaderListener;
import dev.idem.lock.StaleLeaderException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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

  private static final Logger log = LoggerFactory.getLogger(OutboxRelay.class);
  private static final int RETENTION_CHUNK = 5_000;
  private static final int RETENTION_CHUNKS = 20;

  private final Outbox outbox;
  private final DataSource dataSource;
  private final Map<String, Object> producerSettings;
  private final String name;
  private final Duration pollInterval;
  private final int batchSize;
  private final Duration retention;
  private final Transactions transactions = Transactions.standard();
  private final LeaderElection election;
  private final Counter published;
  private final Counter fenced;
  private final FaultHook faults;
  private final AtomicLong rounds = new AtomicLong();
  private volatile Instant lastRound;
  private volatile int failedRounds;
  private volatile String lastFailure;
  private volatile double pendingRows = Double.NaN;
  private volatile double oldestPendingSeconds = Double.NaN;
  private long lastMeasured;
  private final Thread thread;
  private volatile boolean running;
  private Producer<byte[], byte[]> producer;
  private long lastRetention;

  private OutboxRelay(Builder b) {
    this.outbox = b.outbox;
    this.dataSource = b.dataSource;
    this.name = b.name;
    this.pollInterval = b.pollInterval;
    this.batchSize = b.batchSize;
    this.retention = b.retention;
    this.faults = b.faults;
    Map<String, Object> settings = new HashMap<>(b.kafka);
    settings.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    settings.put(ProducerConfig.ACKS_CONFIG, "all");
    settings.putIfAbsent(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "idem-outbox-relay-" + b.name);
    settings.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "idem-outbox-relay-" + b.name);
    settings.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 5);
    settings.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
    settings.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    settings.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
    this.producerSettings = Map.copyOf(settings);
    MeterRegistry registry = b.registry == null ? new SimpleMeterRegistry() : b.registry;
    this.published =
        Counter.builder("idem.outbox.published")
            .description(
                "Outbox records published to Kafka (a repeat after a failover counts again)")
            .tag("relay", name)
            .register(registry);
    this.fenced =
        Counter.builder("idem.outbox.fenced")
            .description(
                "Rounds this relay sent but could not mark: a newer leader's epoch refused the mark")
            .tag("relay", name)
            .register(registry);
    Gauge.builder("idem.outbox.pending", this, r -> r.isLeader() ? r.pendingRows : Double.NaN)
        .description("Outbox rows not yet sent, as the leader relay last counted (NaN elsewhere)")
        .tag("relay", name)
        .register(registry);
    Gauge.builder(
            "idem.outbox.oldest.pending.age",
            this,
            r -> r.isLeader() ? r.oldestPendingSeconds : Double.NaN)
        .description("Seconds since the oldest unsent outbox row was written (leader relay only)")
        .baseUnit("seconds")
        .tag("relay", name)
        .register(registry);
    Gauge.builder("idem.outbox.leader", this, r -> r.isLeader() ? 1 : 0)
        .description("1 on the instance whose relay publishes now")
        .tag("relay", name)
        .register(registry);
    this.election =
        b.locks.leaderElection(
            ROLE_NAMESPACE,
            name,
            b.leaderPing,
            new LeaderListener() {
              @Override
              public void elected(FencingToken token) {
                log.info("outbox relay {} elected (epoch {})", name, token.epoch());
              }

              @Override
              public void revoked(FencingToken token) {
                log.info("outbox relay {} lost its leadership (epoch {})", name, token.epoch());
              }
            });
    this.thread = new Thread(this::loop, "idem-outbox-relay-" + name);
    thread.setDaemon(true);
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
  public synchronized void start() {
    if (running) {
      return;
    }
    running = true;
    election.start();
    thread.start();
  }

  /** Whether this instance is the relay's leader now. */
  public boolean isLeader() {
    return election.isLeader();
  }

  /** This instance's relay as a health endpoint shows it; see {@link OutboxRelayHealth}. */
  public OutboxRelayHealth health() {
    FencingToken token = election.isLeader() ? election.token().orElse(null) : null;
    boolean leader = token != null;
    double pending = pendingRows;
    double oldest = oldestPendingSeconds;
    return OutboxRelayHealth.builder(name)
        .running(running && thread.isAlive())
        .leader(leader)
        .epoch(leader ? token.epoch() : -1)
        .lastRound(lastRound)
        .failedRounds(failedRounds)
        .lastFailure(lastFailure)
        .pendingRows(leader && !Double.isNaN(pending) ? (long) pending : -1)
        .oldestPending(
            leader && !Double.isNaN(oldest) ? Duration.ofMillis((long) (oldest * 1000)) : null)
        .build();
  }

  /** Rounds this instance ran as leader (a round reads pending rows, empty or not). */
  public long rounds() {
    return rounds.get();
  }

  private void loop() {
    while (running) {
      try {
        FencingToken token = election.token().orElse(null);
        if (token == null || !election.isLeader()) {
          closeProducer();
          sleep(pollInterval);
          continue;
        }
        int sent = round(token);
        rounds.incrementAndGet();
        lastRound = Instant.now();
        failedRounds = 0;
        lastFailure = null;
        if (sent == 0) {
          sleep(pollInterval);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (StaleLeaderException e) {
        log.warn("outbox relay {}: a newer leader exists; this one stops publishing", name);
        closeProducer();
      } catch (ProducerFencedException e) {
        log.warn("outbox relay {}: fenced by a newer relay's producer", name);
        closeProducer();
      } catch (Exception e) {
        log.warn("outbox relay {}: round failed, nothing marked; retrying: {}", name, e.toString());
        failedRounds++;
        lastFailure = e.toString();
        closeProducer();
        try {
          sleep(Duration.ofMillis(Math.max(500, pollInterval.toMillis())));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** One round: read pending rows, send them in one Kafka transaction, mark them. */
  private int round(FencingToken token) throws Exception {
    // Counted first, so that a leader that cannot reach the broker still shows its pending rows.
    measure();
    retain();
    // The producer is made at the first round of a leadership, not at the first row: its
    // initTransactions (which also aborts what a dead predecessor left open) takes hundreds of
    // milliseconds that the first rows after an election would otherwise wait.
    Producer<byte[], byte[]> p = producer();
    List<Row> rows = pending();
    if (rows.isEmpty()) {
      return 0;
    }
    p.beginTransaction();
    try {
      for (Row r : rows) {
        p.send(toRecord(r));
      }
      p.commitTransaction();
    } catch (ProducerFencedException e) {
      throw e;
    } catch (KafkaException e) {
      abortQuietly(p);
      throw e;
    }
    published.increment(rows.size());
    faults.afterOutboxSend(rows.size());
    mark(token, rows);
    return rows.size();
  }

  private List<Row> pending() throws Exception {
    return transactions.run(dataSource, c -> outbox.rows().unsent(c, batchSize));
  }

  /** Counts the pending rows and the oldest one's age, at most once a second. */
  private void measure() throws Exception {
    long now = System.currentTimeMillis();
    if (now - lastMeasured < 1000) {
      return;
    }
    lastMeasured = now;
    OutboxRows.Pending pending = transactions.run(dataSource, outbox.rows()::pending);
    pendingRows = pending.rows();
    oldestPendingSeconds = pending.oldestSeconds();
  }

  /** Marks the round's rows sent, in a transaction fenced by the leadership's epoch. */
  private void mark(FencingToken token, List<Row> rows) throws Exception {
    Long[] ids = rows.stream().map(Row::id).toArray(Long[]::new);
    try {
      transactions.run(
          dataSource,
          c -> {
            token.check(c);
            outbox.rows().markSent(c, ids);
            return null;
          });
    } catch (StaleLeaderException e) {
      // The rows stay unsent; the new leader sends them again (same event ids) and marks them.
      fenced.increment();
      throw e;
    }
  }

  /**
   * Deletes rows sent longer than the retention ago, every tenth of the retention but at least once
   * a minute, busy or idle: in chunks of {@value #RETENTION_CHUNK} rows, each its own transaction,
   * at most {@value #RETENTION_CHUNKS} chunks at a time, so that a backlog of old rows delays the
   * next round by a bounded time and the rest waits for the next time.
   */
  private void retain() throws Exception {
    long now = System.currentTimeMillis();
    if (retention == null
        || now - lastRetention < Math.min(60_000, Math.max(100, retention.toMillis() / 10))) {
      return;
    }
    lastRetention = now;
    for (int i = 0; i < RETENTION_CHUNKS; i++) {
      int deleted =
          transactions.run(
              dataSource,
              c -> outbox.rows().deleteSentBefore(c, retention.toMillis(), RETENTION_CHUNK));
      if (deleted < RETENTION_CHUNK) {
        return;
      }
    }
  }

  private Producer<byte[], byte[]> producer() {
    if (producer == null) {
      Producer<byte[], byte[]> p =
          new KafkaProducer<>(
              producerSettings, new ByteArraySerializer(), new ByteArraySerializer());
      try {
        p.initTransactions();
      } catch (RuntimeException e) {
        p.close(Duration.ZERO);
        throw e;
      }
      producer = p;
    }
    return producer;
  }

  private static void abortQuietly(Producer<byte[], byte[]> p) {
    try {
      p.abortTransaction();
    } catch (RuntimeException e) {
      // The producer is closed next; a new one's initTransactions aborts what is left.
    }
  }

  private void closeProducer() {
    if (producer != null) {
      try {
        producer.close(Duration.ofSeconds(5));
      } catch (RuntimeException e) {
        log.debug("outbox relay {}: producer close failed", name, e);
      }
      producer = null;
    }
  }

  private static void sleep(Duration d) throws InterruptedException {
    Thread.sleep(d.toMillis());
  }

  /** Stops publishing (finishing the round under way) and hands the leadership over. */
  @Override
  public void close() {
    running = false;
    thread.interrupt();
    try {
      thread.join(15_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closeProducer();
    election.close();
  }

  private static ProducerRecord<byte[], byte[]> toRecord(Row row) {
    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(row.topic(), row.key(), row.value());
    for (int i = 0; i < row.headerNames().length; i++) {
      r.headers().add(row.headerNames()[i], row.headerValues()[i]);
    }
    r.headers().add(Outbox.EVENT_ID_HEADER, row.eventId().getBytes(StandardCharsets.UTF_8));
    return r;
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
      return new OutboxRelay(this);
    }
  }
}
