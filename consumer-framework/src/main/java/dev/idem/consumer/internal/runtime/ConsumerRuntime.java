package dev.idem.consumer.internal.runtime;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.DeadLetterMode;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.OffsetStore;
import dev.idem.consumer.OrderingKey;
import dev.idem.consumer.OrderingKeys;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.dispatch.Dispatcher;
import dev.idem.consumer.internal.dispatch.GroupRunner;
import dev.idem.consumer.internal.dispatch.Tasks;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.health.DatabaseProbe;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.membership.InstanceIdGuard;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.offset.DatabaseOffsets;
import dev.idem.consumer.internal.poll.OrderingKeyValues;
import dev.idem.consumer.internal.poll.PollLoop;
import dev.idem.consumer.internal.poll.PollSettings;
import dev.idem.consumer.internal.retention.RetentionSchedule;
import dev.idem.consumer.internal.store.KeyParking;
import dev.idem.consumer.internal.store.OffsetRows;
import dev.idem.consumer.internal.store.ParkedKeys;
import dev.idem.consumer.internal.tx.BatchProcessor;
import dev.idem.consumer.internal.tx.GroupProcessor;
import dev.idem.consumer.internal.tx.RecordProcessor;
import dev.idem.consumer.internal.tx.TxEnvironment;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A started consumer: wires the pieces from its {@link ConsumerParts}, owns the pool, the threads
 * and the poll loop it opened, and releases them in order. One per successful or failed start; the
 * facade keeps the lifecycle, this class the resources.
 *
 * @param <T> the payload type
 */
public final class ConsumerRuntime<T> {
  private static final Logger log = LoggerFactory.getLogger(ConsumerRuntime.class);

  private final ConsumerParts<T> parts;
  private final IdemConfig config;
  private final String name;
  private final ConsumerStatus status;

  // Opened by start(), in this order; released by release() in the order written there.
  private HikariDataSource ownedPool;
  private volatile DatabaseProbe probe;
  private InstanceIdGuard instanceGuard;
  private ConsumerMetrics metrics;
  private volatile Watchdog watchdog;
  private DeadLetterPublisher deadLetters;
  private ScheduledExecutorService retryScheduler;
  private ExecutorService ownedExecutor;
  private Dispatcher dispatcher;
  private DatabaseOffsets databaseOffsets;
  private PollLoop loop;
  private RetentionSchedule retention;
  private ScheduledExecutorService watchdogTimer;
  private Thread pollThread;
  // Set on the poll thread when it creates the client (once per run), closed by release().
  private volatile KafkaClientMetrics clientMetrics;

  private ConsumerRuntime(ConsumerParts<T> parts, ConsumerStatus status) {
    this.parts = parts;
    this.config = parts.config();
    this.name = config.consumerName();
    this.status = status;
  }

  /**
   * Applies the schema (unless disabled), checks the server, wires the consumer and starts its poll
   * thread, moving {@code status} to {@code RUNNING} just before. On a failure it releases what it
   * opened and rethrows; the caller moves the state to {@code FAILED}.
   */
  public static <T> ConsumerRuntime<T> start(ConsumerParts<T> parts, ConsumerStatus status) {
    ConsumerRuntime<T> runtime = new ConsumerRuntime<>(parts, status);
    try {
      runtime.open();
      return runtime;
    } catch (RuntimeException | Error e) {
      runtime.release();
      throw e;
    }
  }

  private void open() {
    DataSource dataSource = dataSource();
    Pipeline.Database database = Pipeline.prepare(parts, dataSource);
    probe =
        new DatabaseProbe(
            name, dataSource, true, Executors.newSingleThreadScheduledExecutor(threads("health")));
    instanceGuard = InstanceIdGuard.acquire(config, dedicatedConnections(), parts.meterRegistry());
    log.info("starting idem consumer {} with{}", name, config.describe());
    metrics = new ConsumerMetrics(parts.meterRegistry(), name);
    metrics.registerInFlight(() -> status.snapshot().inFlight());
    watchdog = Pipeline.watchdog(config, dataSource, metrics);
    deadLetters = Pipeline.deadLetters(parts);
    dispatcher = dispatcher(Pipeline.environment(parts, dataSource, database, metrics, watchdog));
    if (config.offsetStore() == OffsetStore.POSTGRESQL) {
      databaseOffsets =
          new DatabaseOffsets(
              name,
              dataSource,
              new OffsetRows(name, config.schema()),
              Executors.newSingleThreadScheduledExecutor(threads("offsets")));
    }
    // Batches and groups hold a partition's records in offset order, one per partition at a time.
    OrderingKey orderingKey =
        parts.batchMode() || parts.groupedMode() ? OrderingKeys.partition() : parts.orderingKey();
    PollSettings polling = PollSettings.of(config, this::client, orderingKey, parts.clock());
    loop = new PollLoop(polling, dispatcher, metrics, status, databaseOffsets);
    retention =
        RetentionSchedule.start(
            config,
            dataSource,
            dedicatedConnections(),
            parts.meterRegistry(),
            parts.clock(),
            threads("retention"),
            this::stopForTopicRetention);
    watchdogTimer = Executors.newSingleThreadScheduledExecutor(threads("watchdog"));
    watchdog.start(watchdogTimer, config.handlerTimeout());
    pollThread = threads("poll").newThread(loop);
    pollThread.setUncaughtExceptionHandler((t, e) -> InstanceIdGuard.explainIfFenced(config, e));
    status.running();
    pollThread.start();
  }

  /**
   * The processing pipeline: the transaction per record (or batch, or group), and the lanes it runs
   * in.
   */
  private Dispatcher dispatcher(TxEnvironment env) {
    EventHandler<T> recordHandler = Pipeline.recordHandler(parts);
    RecordProcessor<T> processor =
        new RecordProcessor<>(
            env,
            parts.eventIds(),
            parts.payloads(),
            recordHandler,
            deadLetters,
            config.deadLetterMode() == DeadLetterMode.PARK_KEY
                ? new ParkedKeys(name, config.schema(), config.deadLetterTable())
                : KeyParking.SKIP);
    retryScheduler = Executors.newSingleThreadScheduledExecutor(threads("retry"));
    Tasks.FailureSettings failures =
        new Tasks.FailureSettings(config.retry(), parts.classifier(), config.readRetryTimeout());
    GroupRunner runner;
    int groupSize;
    if (parts.groupedMode()) {
      OrderingKey keys = parts.orderingKey();
      runner =
          Tasks.forGroups(
              name,
              processor,
              new GroupProcessor<>(env, processor),
              record -> OrderingKeyValues.read(keys, record),
              failures,
              metrics,
              this::crashFromWorker);
      groupSize = config.transactionMaxRecords();
    } else if (parts.batchMode()) {
      BatchProcessor<T> batches =
          new BatchProcessor<>(env, parts.batchHandler(), config.batchMaxLocks());
      runner = Tasks.forBatches(name, processor, batches, failures, metrics, this::crashFromWorker);
      groupSize = config.batchSize();
    } else {
      runner = Tasks.forRecords(name, processor, failures, metrics, this::crashFromWorker);
      groupSize = 1;
    }
    return new Dispatcher(
        executor(), retryScheduler, runner, watchdog, config.concurrency(), groupSize);
  }

  /**
   * A worker met a failure the consumer cannot survive. Only reached once records flow, that is
   * after {@link #open()} set both fields and started the poll thread (which publishes them).
   */
  private void crashFromWorker() {
    dispatcher.halt();
    loop.crash();
  }

  private Executor executor() {
    Executor executor = parts.executor();
    if (executor == null) {
      // Cached, not fixed: a worker abandoned by the watchdog may stay alive (blocked) while its
      // replacement runs; the dispatcher still runs at most consumer.concurrency records at once.
      ownedExecutor = Executors.newCachedThreadPool(threads("worker"));
      return ownedExecutor;
    }
    int needed = config.concurrency() + config.maxAbandonedWorkers();
    if (executor instanceof ThreadPoolExecutor pool && pool.getMaximumPoolSize() < needed) {
      log.warn(
          "the executor given to {} runs at most {} threads: a worker abandoned by the watchdog"
              + " would not be replaced while it is alive, and its record's lane would wait in the"
              + " executor's queue; give it at least consumer.concurrency +"
              + " consumer.max-abandoned-workers = {} threads, or use a cached pool",
          name,
          pool.getMaximumPoolSize(),
          needed);
    }
    return executor;
  }

  private DataSource dataSource() {
    if (parts.dataSource() != null) {
      return parts.dataSource();
    }
    // ConsumerParts refused a missing pg.url already.
    ownedPool = Pipeline.ownedPool(parts);
    return ownedPool;
  }

  /** Connections for session locks: the builder's, or new ones with the settings of the pool. */
  private ConnectionFactory dedicatedConnections() {
    return Pipeline.dedicatedConnections(parts, ownedPool);
  }

  /**
   * A background check found, after start, that a topic outlives the processed marks: stop the way
   * a fatal error does (state FAILED; offsets not yet committed are redelivered to the group and
   * skipped by their marks).
   */
  private void stopForTopicRetention(IdemConfigException refusal) {
    if (!status.failed()) {
      return; // closing or closed: nothing to stop
    }
    log.error("stopping consumer {}: {}", name, refusal.getMessage());
    loop.crash();
  }

  private ThreadFactory threads(String role) {
    return Threads.of(name, role);
  }

  /** Whether the database answered the last background probe. */
  public boolean databaseReachable() {
    DatabaseProbe p = probe;
    return p != null && p.reachable();
  }

  /** Worker threads stuck past their timeouts. */
  public int stuckWorkers() {
    Watchdog w = watchdog;
    return w == null ? 0 : w.stuckWorkers();
  }

  /** Stops as if the process died: nothing more is committed. For fault tests. */
  public void crash() {
    if (loop != null) {
      loop.crash();
    }
  }

  /**
   * Finishes in-flight records (up to the drain timeout), commits their offsets, leaves the group,
   * then releases what {@link #start} opened.
   */
  public void close() {
    if (pollThread != null) {
      loop.close();
      joinPollThread();
    }
    release();
  }

  private void joinPollThread() {
    long waitMillis = config.drainTimeout().toMillis() + 20_000;
    try {
      pollThread.join(waitMillis);
      if (pollThread.isAlive()) {
        log.warn("poll thread of {} did not stop within {} ms; stopping it", name, waitMillis);
        loop.crash();
        pollThread.join(5_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * The Kafka consumer, with its client metrics ({@code kafka.consumer.*}, tagged with the
   * consumer's name) bound to the consumer's registry. Micrometer's binder reads the client's
   * metrics map from a scheduler thread of its own, which the client allows.
   */
  private Consumer<byte[], byte[]> client(Map<String, Object> properties) {
    Consumer<byte[], byte[]> client = parts.clientFactory().apply(properties);
    KafkaClientMetrics bound = new KafkaClientMetrics(client, Tags.of("consumer", name));
    bound.bindTo(parts.meterRegistry());
    clientMetrics = bound;
    return client;
  }

  private void release() {
    if (probe != null) {
      probe.close();
    }
    if (clientMetrics != null) {
      clientMetrics.close();
    }
    if (watchdogTimer != null) {
      watchdogTimer.shutdownNow();
    }
    if (ownedExecutor != null) {
      ownedExecutor.shutdownNow();
      awaitQuietly(ownedExecutor);
    }
    if (retryScheduler != null) {
      retryScheduler.shutdownNow();
    }
    if (retention != null) {
      retention.close();
    }
    if (deadLetters != null) {
      deadLetters.close();
    }
    if (databaseOffsets != null) {
      databaseOffsets.close();
    }
    if (ownedPool != null) {
      ownedPool.close();
    }
    if (instanceGuard != null) {
      // Last: the Kafka client is closed by now, so a successor cannot overlap with this instance.
      instanceGuard.close();
    }
  }

  private static void awaitQuietly(ExecutorService executor) {
    try {
      executor.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
