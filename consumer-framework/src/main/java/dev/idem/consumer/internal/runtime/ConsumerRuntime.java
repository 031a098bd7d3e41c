package dev.idem.consumer.internal.runtime;

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
import dev.idem.consumer.internal.lifecycle.RuntimeSignals;
import dev.idem.consumer.internal.membership.InstanceIdGuard;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.offset.DatabaseOffsets;
import dev.idem.consumer.internal.offset.StoredOffsets;
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
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
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
public final class ConsumerRuntime<T> implements RuntimeSignals {
  private static final Logger log = LoggerFactory.getLogger(ConsumerRuntime.class);

  private final ConsumerParts<T> parts;
  private final IdemConfig config;
  private final String name;
  private final ConsumerStatus status;

  // Opened by start(); released in one order (see Resources).
  private final Resources resources = new Resources();
  private volatile DatabaseProbe probe;
  private volatile Watchdog watchdog;
  private DeadLetterPublisher deadLetters;
  private Dispatcher dispatcher;
  private PollLoop loop;
  private Thread pollThread;

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
      runtime.resources.release();
      throw e;
    }
  }

  private void open() {
    DataSource dataSource = dataSource();
    Pipeline.Database database = Pipeline.prepare(parts, dataSource);
    probe =
        resources.probe(
            new DatabaseProbe(
                name, dataSource, Executors.newSingleThreadScheduledExecutor(threads("health"))));
    resources.instanceGuard(
        InstanceIdGuard.acquire(config, dedicatedConnections(), parts.meterRegistry()));
    log.info("starting idem consumer {} with{}", name, config.describe());
    Pipeline.checkSocketTimeout(parts);
    ConsumerMetrics metrics = new ConsumerMetrics(parts.meterRegistry(), name);
    metrics.registerInFlight(() -> status.snapshot().inFlight());
    watchdog = Pipeline.watchdog(config, dataSource, metrics);
    deadLetters = resources.deadLetters(Pipeline.deadLetters(parts));
    dispatcher =
        dispatcher(Pipeline.environment(parts, dataSource, database, metrics, watchdog), metrics);
    StoredOffsets offsets =
        config.offsetStore() == OffsetStore.POSTGRESQL
            ? resources.storedOffsets(
                new DatabaseOffsets(
                    name,
                    dataSource,
                    new OffsetRows(name, config.schema()),
                    Executors.newSingleThreadScheduledExecutor(threads("offsets"))))
            : StoredOffsets.KAFKA;
    // Batches and groups hold a partition's records in offset order, one per partition at a time.
    OrderingKey orderingKey =
        parts.mode() == ProcessingMode.RECORD ? parts.orderingKey() : OrderingKeys.partition();
    PollSettings polling = PollSettings.of(config, this::client, orderingKey, parts.clock());
    loop = new PollLoop(polling, dispatcher, metrics, status, offsets);
    resources.retention(
        RetentionSchedule.start(
            config,
            dataSource,
            dedicatedConnections(),
            parts.meterRegistry(),
            parts.clock(),
            threads("retention"),
            this::stopForTopicRetention));
    watchdog.start(
        resources.watchdogTimer(Executors.newSingleThreadScheduledExecutor(threads("watchdog"))),
        config.handlerTimeout());
    pollThread = threads("poll").newThread(loop);
    pollThread.setUncaughtExceptionHandler((t, e) -> InstanceIdGuard.explainIfFenced(config, e));
    status.running();
    pollThread.start();
  }

  /**
   * The processing pipeline: the transaction per record (or batch, or group), and the lanes it runs
   * in.
   */
  private Dispatcher dispatcher(TxEnvironment env, ConsumerMetrics metrics) {
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
    ScheduledExecutorService retries =
        resources.retryScheduler(Executors.newSingleThreadScheduledExecutor(threads("retry")));
    Tasks.FailureSettings failures =
        new Tasks.FailureSettings(
            config.retry(),
            parts.classifier(),
            config.readRetryTimeout(),
            Tasks.lockWaitAllowance(
                config.lockTimeout(),
                config.handlerTimeout(),
                parts.mode() == ProcessingMode.GROUPED ? config.transactionMaxRecords() : 1));
    ProcessingMode mode = parts.mode();
    GroupRunner runner =
        switch (mode) {
          case RECORD ->
              Tasks.forRecords(name, processor, failures, metrics, this::crashFromWorker);
          case GROUPED -> {
            OrderingKey keys = parts.orderingKey();
            yield Tasks.forGroups(
                name,
                processor,
                new GroupProcessor<>(env, processor),
                record -> OrderingKeyValues.read(keys, record),
                failures,
                metrics,
                this::crashFromWorker);
          }
          case BATCH ->
              Tasks.forBatches(
                  name,
                  processor,
                  new BatchProcessor<>(env, parts.batchHandler(), config.batchMaxLocks()),
                  failures,
                  metrics,
                  this::crashFromWorker);
        };
    return new Dispatcher(
        executor(), retries, runner, watchdog, config.concurrency(), mode.groupSize(config));
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
      return resources.workers(Executors.newCachedThreadPool(threads("worker")));
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
    return resources.ownedPool(Pipeline.ownedPool(parts));
  }

  /** Connections for session locks: the builder's, or new ones with the settings of the pool. */
  private ConnectionFactory dedicatedConnections() {
    return Pipeline.dedicatedConnections(parts, resources.ownedPool());
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

  @Override
  public boolean databaseReachable() {
    DatabaseProbe p = probe;
    return p != null && p.reachable();
  }

  @Override
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
    resources.release();
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
    resources.clientMetrics(bound);
    return client;
  }
}
