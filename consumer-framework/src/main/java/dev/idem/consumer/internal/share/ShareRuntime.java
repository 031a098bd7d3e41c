package dev.idem.consumer.internal.share;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.ConsumerState;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.dispatch.FailurePolicy;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.health.DatabaseProbe;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.retention.RetentionSchedule;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import dev.idem.consumer.internal.runtime.Pipeline;
import dev.idem.consumer.internal.runtime.Threads;
import dev.idem.consumer.internal.store.KeyParking;
import dev.idem.consumer.internal.tx.BatchProcessor;
import dev.idem.consumer.internal.tx.GroupProcessor;
import dev.idem.consumer.internal.tx.GroupRun;
import dev.idem.consumer.internal.tx.GroupTransaction;
import dev.idem.consumer.internal.tx.Read;
import dev.idem.consumer.internal.tx.RecordProcessor;
import dev.idem.consumer.internal.tx.TxEnvironment;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.ShareConsumer;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running share-group consumer: the same transaction per record as the consumer-group mode, on a
 * loop of poll, process every record of the poll on the workers, acknowledge each, commit the
 * acknowledgements, poll. While the database is unreachable it acquires nothing.
 *
 * @param <T> the payload type
 */
public final class ShareRuntime<T> {
  private static final Logger log = LoggerFactory.getLogger(ShareRuntime.class);

  private final ConsumerParts<T> parts;
  private final IdemConfig config;
  private final String name;
  private final Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients;
  private final Map<String, Object> clientProperties;

  private HikariDataSource ownedPool;
  private RetentionSchedule retention;
  private DatabaseProbe probe;
  private ConsumerMetrics metrics;
  private ShareMetrics shareMetrics;
  private Watchdog watchdog;
  private ScheduledExecutorService watchdogTimer;
  private DeadLetterPublisher deadLetters;
  private ExecutorService workers;
  private ShareRecordTask task;
  private RecordProcessor<T> processor;
  // Batch or grouped mode: one transaction over up to `chunk` records of a poll's partition.
  private GroupTransaction<T> groupTx;
  private int chunk = 1;
  private ShareGroupSettings group;
  private Thread pollThread;
  private volatile ShareConsumer<byte[], byte[]> client;
  private volatile boolean running;
  private volatile boolean databaseDown;
  private DataSource dataSource;
  private volatile ConsumerState state = ConsumerState.STARTING;
  private volatile long lastLoopNanos = System.nanoTime();
  private volatile Instant lastCommit;
  private final AtomicInteger inFlight = new AtomicInteger();

  private ShareRuntime(
      ConsumerParts<T> parts,
      Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients,
      Map<String, Object> clientProperties) {
    this.parts = parts;
    this.config = parts.config();
    this.name = config.consumerName();
    this.clients = clients;
    this.clientProperties = clientProperties;
  }

  /**
   * Applies the schema, checks the server and the share group's settings, and starts polling on a
   * thread of its own; on a failure releases what it opened and rethrows.
   */
  public static <T> ShareRuntime<T> start(
      ConsumerParts<T> parts,
      Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients,
      Map<String, Object> clientProperties) {
    ShareRuntime<T> runtime = new ShareRuntime<>(parts, clients, clientProperties);
    try {
      runtime.open();
      return runtime;
    } catch (RuntimeException | Error e) {
      runtime.release();
      throw e;
    }
  }

  private void open() {
    DataSource dataSource = parts.dataSource();
    if (dataSource == null) {
      ownedPool = Pipeline.ownedPool(parts);
      dataSource = ownedPool;
    }
    Pipeline.Database database = Pipeline.prepare(parts, dataSource);
    probe =
        new DatabaseProbe(
            name, dataSource, true, Executors.newSingleThreadScheduledExecutor(threads("health")));
    group =
        ShareGroupSettings.apply(
            adminProperties(), String.valueOf(clientProperties.get("group.id")));
    log.info(
        "starting idem share consumer {} (share group {}: {} deliveries, {} ms acquisition lock)"
            + " with{}",
        name,
        clientProperties.get("group.id"),
        group.deliveryLimit(),
        group.lockDuration().toMillis(),
        config.describe());
    metrics = new ConsumerMetrics(parts.meterRegistry(), name);
    metrics.registerInFlight(inFlight::get);
    shareMetrics = new ShareMetrics(parts.meterRegistry(), name);
    watchdog = Pipeline.watchdog(config, dataSource, metrics);
    deadLetters = Pipeline.deadLetters(parts);
    TxEnvironment env = Pipeline.environment(parts, dataSource, database, metrics, watchdog);
    processor =
        new RecordProcessor<>(
            env,
            parts.eventIds(),
            parts.payloads(),
            Pipeline.recordHandler(parts),
            deadLetters,
            KeyParking.SKIP);
    if (parts.batchMode()) {
      groupTx = new BatchProcessor<>(env, parts.batchHandler(), config.batchMaxLocks());
      chunk = config.batchSize();
    } else if (parts.groupedMode()) {
      groupTx = new GroupProcessor<>(env, processor);
      chunk = config.transactionMaxRecords();
    }
    FailurePolicy policy =
        new FailurePolicy(
            config.retry(), parts.classifier(), config.readRetryTimeout(), processor::isKeyRace);
    task =
        new ShareRecordTask(
            name, processor, policy, metrics, shareMetrics, () -> databaseDown = true);
    this.dataSource = dataSource;
    // The processed marks' retention, as in the consumer-group mode: a share group can deliver a
    // record for as long as its topic keeps it, so the same topic-retention check applies.
    retention =
        RetentionSchedule.start(
            config,
            dataSource,
            Pipeline.dedicatedConnections(parts, ownedPool),
            parts.meterRegistry(),
            parts.clock(),
            threads("retention"),
            this::stopForTopicRetention);
    workers = Executors.newCachedThreadPool(threads("worker"));
    watchdogTimer = Executors.newSingleThreadScheduledExecutor(threads("watchdog"));
    watchdog.start(watchdogTimer, config.handlerTimeout());
    client = clients.apply(clientProperties);
    client.setAcknowledgementCommitCallback(this::acknowledged);
    client.subscribe(config.topics());
    running = true;
    state = ConsumerState.RUNNING;
    pollThread = threads("poll").newThread(this::loop);
    pollThread.start();
  }

  /** The share consumer's connection and security settings, for the admin client. */
  private Map<String, Object> adminProperties() {
    Map<String, Object> admin = new java.util.LinkedHashMap<>();
    clientProperties.forEach(
        (k, v) -> {
          if (k.equals("bootstrap.servers")
              || k.startsWith("security.")
              || k.startsWith("sasl.")
              || k.startsWith("ssl.")
              || k.equals("client.dns.lookup")) {
            admin.put(k, v);
          }
        });
    admin.put("client.id", "idem-" + name + "-admin");
    return admin;
  }

  /** Share-consumer keys that a consumer-group configuration holds and the share client refuses. */
  private static final List<String> NOT_FOR_SHARE =
      List.of(
          "auto.offset.reset",
          "enable.auto.commit",
          "group.instance.id",
          "isolation.level",
          "partition.assignment.strategy",
          "interceptor.classes",
          "session.timeout.ms",
          "heartbeat.interval.ms",
          "group.protocol",
          "group.remote.assignor");

  /**
   * The share consumer's properties from the configuration's Kafka properties: the consumer-group
   * keys the share client refuses left out (their share-group counterparts are group settings, see
   * {@link ShareGroupSettings}), explicit acknowledgement, and at most {@code max.poll.records}
   * records acquired per poll ({@code record_limit}), by default 4 per worker.
   */
  public static Map<String, Object> clientProperties(IdemConfig config) {
    Map<String, Object> props = new java.util.LinkedHashMap<>(config.kafka());
    NOT_FOR_SHARE.forEach(props::remove);
    props.put("share.acknowledgement.mode", "explicit");
    props.put("share.acquire.mode", "record_limit");
    props.putIfAbsent(
        "max.poll.records",
        String.valueOf(Math.min(500, Math.max(100, 25 * config.concurrency()))));
    return props;
  }

  /** The loop of the poll thread: the only thread that touches the share consumer. */
  private void loop() {
    try {
      while (running) {
        lastLoopNanos = System.nanoTime();
        if (databaseDown || !probe.reachable()) {
          // Acquiring now would use up deliveries that cannot be applied (and past the group's
          // delivery-count limit the broker archives a record without a trace).
          databaseDown = !databaseAnswers();
          if (databaseDown || !probe.reachable()) {
            Thread.sleep(config.pollTimeout().toMillis());
            continue;
          }
        }
        try {
          ConsumerRecords<byte[], byte[]> records = client.poll(config.pollTimeout());
          if (records.isEmpty()) {
            continue;
          }
          long acquiredAt = System.nanoTime();
          Duration lock =
              client
                  .acquisitionLockTimeoutMs()
                  .map(ms -> Duration.ofMillis(ms))
                  .orElse(group.lockDuration());
          processAndAcknowledge(records, acquiredAt, lock);
        } catch (org.apache.kafka.common.errors.RetriableException e) {
          // A broker that is away: the records of the poll are redelivered after their locks;
          // what was applied is skipped then. Go on rather than die of an outage.
          log.warn("idem share consumer {}: {}; polling again", name, e.toString());
          Thread.sleep(config.pollTimeout().toMillis());
        }
      }
    } catch (WakeupException e) {
      // close() woke the poll up.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | Error e) {
      if (running) {
        log.error("idem share consumer {} failed", name, e);
        state = ConsumerState.FAILED;
      }
    } finally {
      try {
        client.close(Duration.ofSeconds(10));
      } catch (RuntimeException e) {
        log.warn("closing the share consumer of {} failed", name, e);
      }
    }
  }

  /**
   * Processes the poll's records on the workers and acknowledges each: one record per task, or in
   * batch and grouped mode each partition's records in transactions of up to {@code chunk}, where a
   * record the transaction did not finish (it failed, or the whole transaction did) goes the
   * single-record way, retries and dead letters included.
   */
  private void processAndAcknowledge(
      ConsumerRecords<byte[], byte[]> records, long acquiredAt, Duration lock)
      throws InterruptedException {
    List<ConsumerRecord<byte[], byte[]>> polled = new ArrayList<>(records.count());
    for (org.apache.kafka.common.TopicPartition tp : records.partitions()) {
      polled.addAll(records.records(tp));
    }
    AcknowledgeType[] acks = new AcknowledgeType[polled.size()];
    java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(config.concurrency());
    List<Future<?>> running = new ArrayList<>();
    int from = 0;
    while (from < polled.size()) {
      int to = from + 1;
      while (to < polled.size()
          && to - from < chunk
          && polled.get(to).topic().equals(polled.get(from).topic())
          && polled.get(to).partition() == polled.get(from).partition()) {
        to++;
      }
      int start = from;
      int end = to;
      slots.acquire();
      inFlight.addAndGet(end - start);
      running.add(
          workers.submit(
              () -> {
                try {
                  runChunk(polled.subList(start, end), acks, start, acquiredAt, lock);
                } finally {
                  inFlight.addAndGet(start - end);
                  slots.release();
                }
              }));
      from = to;
    }
    for (Future<?> f : running) {
      try {
        f.get();
      } catch (ExecutionException e) {
        if (e.getCause() instanceof Error err) {
          throw err;
        }
        log.error("idem share consumer {}: a transaction's task failed", name, e.getCause());
      }
    }
    for (int i = 0; i < polled.size(); i++) {
      // A record whose task failed unexpectedly has no answer: the broker redelivers it.
      client.acknowledge(polled.get(i), acks[i] == null ? AcknowledgeType.RELEASE : acks[i]);
    }
  }

  private void runChunk(
      List<ConsumerRecord<byte[], byte[]>> chunkRecords,
      AcknowledgeType[] acks,
      int offset,
      long acquiredAt,
      Duration lock) {
    if (groupTx == null) {
      for (int i = 0; i < chunkRecords.size(); i++) {
        acks[offset + i] = task.run(chunkRecords.get(i), acquiredAt, lock, group.deliveryLimit());
      }
      return;
    }
    List<Read<T>> reads = new ArrayList<>(chunkRecords.size());
    List<Integer> at = new ArrayList<>(chunkRecords.size());
    for (int i = 0; i < chunkRecords.size(); i++) {
      ConsumerRecord<byte[], byte[]> r = chunkRecords.get(i);
      Read<T> read = processor.read(r);
      if (read.failure() != null) {
        acks[offset + i] = task.run(r, acquiredAt, lock, group.deliveryLimit());
      } else {
        reads.add(read);
        at.add(offset + i);
      }
    }
    if (reads.isEmpty()) {
      return;
    }
    GroupRun run = groupTx.run(reads, java.util.Collections.nCopies(reads.size(), null), 1);
    java.util.BitSet unfinished = new java.util.BitSet(reads.size());
    if (run.committed()) {
      unfinished.or(run.unfinished());
    } else {
      unfinished.set(0, reads.size());
    }
    for (int j = 0; j < reads.size(); j++) {
      acks[at.get(j)] =
          unfinished.get(j)
              ? task.run(reads.get(j).record(), acquiredAt, lock, group.deliveryLimit())
              : AcknowledgeType.ACCEPT;
    }
  }

  /**
   * The broker's answer to acknowledgements, on the poll thread: the client sends a poll's
   * acknowledgements with the next poll (one round trip fewer per poll than a {@code commitSync}),
   * or at close.
   */
  private void acknowledged(Map<TopicIdPartition, java.util.Set<Long>> offsets, Exception failure) {
    if (failure == null) {
      lastCommit = Instant.now();
      return;
    }
    // Mostly a lock that expired while the handler ran: the record went to another consumer,
    // whose copy waits on the event's advisory lock and is skipped.
    offsets.keySet().forEach(tp -> shareMetrics.acknowledgementFailed(tp.topic()));
    log.info(
        "consumer {}: the broker refused acknowledgements of {}: {}",
        name,
        offsets,
        failure.toString());
  }

  private boolean databaseAnswers() {
    try (java.sql.Connection c = dataSource.getConnection()) {
      return c.isValid(2);
    } catch (java.sql.SQLException | RuntimeException e) {
      return false;
    }
  }

  /** The health of this consumer. */
  public ConsumerHealth health(String consumerName, int maxAbandonedWorkers) {
    Duration since = Duration.ofNanos(System.nanoTime() - lastLoopNanos);
    Duration stall =
        config
            .drainTimeout()
            .plus(config.pollTimeout().multipliedBy(10))
            .plusSeconds(30)
            .plus(group == null ? Duration.ZERO : group.lockDuration());
    return ConsumerHealth.builder(consumerName, state)
        .lastCommit(lastCommit)
        .databaseReachable(probe != null && probe.reachable() && !databaseDown)
        .inFlight(inFlight.get())
        .stuckWorkers(watchdog == null ? 0 : watchdog.stuckWorkers())
        .maxAbandonedWorkers(maxAbandonedWorkers)
        .brokerReachable(brokerReachable())
        .lastPoll(Instant.now().minus(since))
        .sinceLastPoll(since)
        .pollStallTimeout(stall)
        .build();
  }

  /**
   * Whether the client holds a broker connection ({@code connection-count}, the signal of the
   * consumer-group mode); true when the client does not report it.
   */
  private boolean brokerReachable() {
    ShareConsumer<byte[], byte[]> c = client;
    if (c == null) {
      return false;
    }
    for (Map.Entry<org.apache.kafka.common.MetricName, ? extends org.apache.kafka.common.Metric> e :
        c.metrics().entrySet()) {
      if (e.getKey().name().equals("connection-count")
          && e.getValue().metricValue() instanceof Number n) {
        return n.doubleValue() > 0;
      }
    }
    return true;
  }

  /** The meters only share groups have, for tests and the health view. */
  public double acknowledgementsFailed() {
    return shareMetrics == null ? 0 : shareMetrics.acknowledgementsFailed();
  }

  /** Finishes the current poll's records (up to the drain timeout), acknowledges, stops. */
  public void close() {
    running = false;
    state = ConsumerState.CLOSING;
    if (pollThread != null) {
      try {
        pollThread.join(config.drainTimeout().plusSeconds(15).toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (pollThread.isAlive()) {
        client.wakeup();
      }
    }
    release();
    state = ConsumerState.CLOSED;
  }

  /** A background check found that a topic outlives the processed marks: stop, as FAILED. */
  private void stopForTopicRetention(dev.idem.consumer.IdemConfigException refusal) {
    log.error("idem share consumer {} stops: {}", name, refusal.getMessage());
    state = ConsumerState.FAILED;
    running = false;
  }

  private void release() {
    if (retention != null) {
      retention.close();
    }
    if (workers != null) {
      workers.shutdownNow();
    }
    if (watchdogTimer != null) {
      watchdogTimer.shutdownNow();
    }
    if (deadLetters != null) {
      deadLetters.close();
    }
    if (probe != null) {
      probe.close();
    }
    if (ownedPool != null) {
      ownedPool.close();
    }
  }

  private ThreadFactory threads(String role) {
    return Threads.of(name, "share-" + role);
  }
}
