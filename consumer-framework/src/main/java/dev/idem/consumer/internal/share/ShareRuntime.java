package dev.idem.consumer.internal.share;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.internal.config.KafkaClientProperties;
import dev.idem.consumer.internal.dispatch.Tasks;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.health.DatabaseProbe;
import dev.idem.consumer.internal.health.PollStall;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.lifecycle.RuntimeSignals;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.retention.RetentionSchedule;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import dev.idem.consumer.internal.runtime.Pipeline;
import dev.idem.consumer.internal.runtime.ProcessingMode;
import dev.idem.consumer.internal.runtime.Resources;
import dev.idem.consumer.internal.runtime.Threads;
import dev.idem.consumer.internal.store.KeyParking;
import dev.idem.consumer.internal.tx.BatchProcessor;
import dev.idem.consumer.internal.tx.GroupProcessor;
import dev.idem.consumer.internal.tx.GroupTransaction;
import dev.idem.consumer.internal.tx.RecordProcessor;
import dev.idem.consumer.internal.tx.TxEnvironment;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.function.Function;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ShareConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A started share-group consumer, shaped as the consumer-group one: wires the pieces from its
 * {@link ConsumerParts} through the same {@link Pipeline}, owns what it opened in {@link Resources}
 * (released in the same order) and runs a {@link SharePollLoop} on a thread of its own; the facade
 * keeps the lifecycle in the same {@link ConsumerStatus}.
 *
 * @param <T> the payload type
 */
public final class ShareRuntime<T> implements RuntimeSignals {
  private static final Logger log = LoggerFactory.getLogger(ShareRuntime.class);

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

  private final ConsumerParts<T> parts;
  private final IdemConfig config;
  private final String name;
  private final ConsumerStatus status;
  private final Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients;
  private final Resources resources = new Resources();
  private volatile DatabaseProbe probe;
  private volatile Watchdog watchdog;
  private volatile LiveGroupSettings group;
  private volatile DatabaseGate gate;
  private SharePollLoop loop;
  private ShareMetrics shareMetrics;
  private Thread pollThread;

  private ShareRuntime(
      ConsumerParts<T> parts,
      ConsumerStatus status,
      Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients) {
    this.parts = parts;
    this.config = parts.config();
    this.name = config.consumerName();
    this.status = status;
    this.clients = clients;
  }

  /**
   * Applies the schema, checks the server and the share group's settings, wires the consumer and
   * starts its poll thread, moving {@code status} to {@code RUNNING} just before. On a failure it
   * releases what it opened and rethrows; the caller moves the state to {@code FAILED}.
   */
  public static <T> ShareRuntime<T> start(
      ConsumerParts<T> parts,
      ConsumerStatus status,
      Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients) {
    ShareRuntime<T> runtime = new ShareRuntime<>(parts, status, clients);
    try {
      runtime.open();
      return runtime;
    } catch (RuntimeException | Error e) {
      runtime.resources.release();
      throw e;
    }
  }

  /**
   * The share consumer's properties from the configuration's Kafka properties: the consumer-group
   * keys the share client refuses left out (their share-group counterparts are group settings, see
   * {@link ShareGroupSettings}), explicit acknowledgement, and at most {@code max.poll.records}
   * records acquired per poll ({@code record_limit}), by default 4 per worker.
   */
  public static Map<String, Object> clientProperties(IdemConfig config) {
    Map<String, Object> props = new LinkedHashMap<>(config.kafka());
    NOT_FOR_SHARE.forEach(props::remove);
    props.put("share.acknowledgement.mode", "explicit");
    props.put("share.acquire.mode", "record_limit");
    props.putIfAbsent(
        "max.poll.records",
        String.valueOf(Math.min(500, Math.max(100, 25 * config.concurrency()))));
    return props;
  }

  private void open() {
    DataSource dataSource =
        parts.dataSource() != null
            ? parts.dataSource()
            : resources.ownedPool(Pipeline.ownedPool(parts));
    Pipeline.Database database = Pipeline.prepare(parts, dataSource);
    probe =
        resources.probe(
            new DatabaseProbe(
                name, dataSource, Executors.newSingleThreadScheduledExecutor(threads("health"))));
    Map<String, Object> clientProperties = clientProperties(config);
    String groupId = String.valueOf(clientProperties.get("group.id"));
    Admin admin =
        Admin.create(KafkaClientProperties.admin(clientProperties, "idem-" + name + "-admin"));
    ShareGroupSettings group;
    try {
      group = ShareGroupSettings.apply(admin, groupId);
    } catch (RuntimeException e) {
      admin.close(Duration.ofSeconds(5));
      throw e;
    }
    LiveGroupSettings live = resources.groupSettings(new LiveGroupSettings(admin, groupId, group));
    this.group = live;
    log.info(
        "starting idem share consumer {} (share group {}: {} deliveries, {} ms acquisition lock)"
            + " with{}",
        name,
        groupId,
        group.deliveryLimit(),
        group.lockDuration().toMillis(),
        config.describe());
    Pipeline.checkSocketTimeout(parts);
    String warning = group.timeoutWarning(groupId, config.lockTimeout(), config.handlerTimeout());
    if (warning != null) {
      log.warn("idem share consumer {}: {}", name, warning);
    }
    ConsumerMetrics metrics = new ConsumerMetrics(parts.meterRegistry(), name);
    metrics.registerInFlight(() -> status.snapshot().inFlight());
    shareMetrics = new ShareMetrics(parts.meterRegistry(), name);
    watchdog = Pipeline.watchdog(config, dataSource, metrics);
    TxEnvironment env = Pipeline.environment(parts, dataSource, database, metrics, watchdog);
    RecordProcessor<T> processor =
        new RecordProcessor<>(
            env,
            parts.eventIds(),
            parts.payloads(),
            Pipeline.recordHandler(parts),
            resources.deadLetters(Pipeline.deadLetters(parts)),
            KeyParking.SKIP);
    Tasks.FailureSettings failures =
        new Tasks.FailureSettings(
            config.retry(),
            parts.classifier(),
            config.readRetryTimeout(),
            Tasks.lockWaitAllowance(
                config.lockTimeout(),
                config.handlerTimeout(),
                parts.mode() == ProcessingMode.GROUPED ? config.transactionMaxRecords() : 1));
    DatabaseGate gate = new DatabaseGate(probe, dataSource);
    this.gate = gate;
    ShareRecordTask task =
        new ShareRecordTask(
            name,
            processor,
            Tasks.policy(processor, failures),
            metrics,
            shareMetrics,
            live,
            gate::failed);
    ShareChunks<T> chunks =
        new ShareChunks<>(
            processor,
            task,
            groupTransaction(env, processor),
            parts.mode().groupSize(config),
            failures,
            metrics);
    loop =
        new SharePollLoop(
            parts,
            status,
            metrics,
            gate,
            chunks,
            task,
            new ShareRuns(
                resources.workers(Executors.newCachedThreadPool(threads("worker"))),
                watchdog,
                config.concurrency()),
            new HeldRecords(name, parts.clock(), shareMetrics, live));
    // The processed marks' retention, as in the consumer-group mode: a share group can deliver a
    // record for as long as its topic keeps it, so the same topic-retention check applies.
    resources.retention(
        RetentionSchedule.start(
            config,
            dataSource,
            Pipeline.dedicatedConnections(parts, resources.ownedPool()),
            parts.meterRegistry(),
            parts.clock(),
            threads("retention"),
            this::stopForTopicRetention));
    watchdog.start(
        resources.watchdogTimer(Executors.newSingleThreadScheduledExecutor(threads("watchdog"))),
        config.handlerTimeout());
    ShareConsumer<byte[], byte[]> client = clients.apply(clientProperties);
    loop.attach(client);
    client.subscribe(config.topics());
    pollThread = threads("poll").newThread(loop);
    status.running();
    pollThread.start();
  }

  /** The transaction over a chunk of a poll's records, or null when each record is its own. */
  private GroupTransaction<T> groupTransaction(TxEnvironment env, RecordProcessor<T> processor) {
    return switch (parts.mode()) {
      case RECORD -> null;
      case GROUPED -> new GroupProcessor<>(env, processor);
      case BATCH -> new BatchProcessor<>(env, parts.batchHandler(), config.batchMaxLocks());
    };
  }

  @Override
  public boolean databaseReachable() {
    DatabaseGate g = gate;
    return g != null && g.reachable();
  }

  @Override
  public int stuckWorkers() {
    Watchdog w = watchdog;
    return w == null ? 0 : w.stuckWorkers();
  }

  /**
   * How long the poll thread may stay silent: the consumer-group bound plus one acquisition lock,
   * which a poll's records may take to finish before the next poll.
   */
  public Duration pollStallTimeout() {
    LiveGroupSettings g = group;
    return PollStall.timeout(config).plus(g == null ? Duration.ZERO : g.current().lockDuration());
  }

  /** The share group's id: {@code kafka.group.id}, by default the consumer's name. */
  public static String groupId(IdemConfig config) {
    return String.valueOf(clientProperties(config).get("group.id"));
  }

  /** Acknowledgements the broker refused (mostly locks that expired), for tests. */
  public double acknowledgementsFailed() {
    return shareMetrics == null ? 0 : shareMetrics.acknowledgementsFailed();
  }

  /**
   * Finishes the records in work (up to the drain timeout), acknowledges them, leaves the group,
   * then releases what {@link #start} opened.
   */
  public void close() {
    if (pollThread != null) {
      loop.close();
      try {
        pollThread.join(config.drainTimeout().plusSeconds(15).toMillis());
        if (pollThread.isAlive()) {
          log.warn("poll thread of share consumer {} did not stop; waking it up", name);
          loop.wakeup();
          pollThread.join(5_000);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    resources.release();
  }

  /** A background check found that a topic outlives the processed marks: stop, as FAILED. */
  private void stopForTopicRetention(IdemConfigException refusal) {
    if (!status.failed()) {
      return; // closing or closed: nothing to stop
    }
    log.error("idem share consumer {} stops: {}", name, refusal.getMessage());
    loop.close();
  }

  private ThreadFactory threads(String role) {
    return Threads.of(name, "share-" + role);
  }
}
