package dev.idem.consumer;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.IdemException;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.deadletter.KafkaDeadLetterPublisher;
import dev.idem.consumer.internal.dispatch.ConnectionAborter;
import dev.idem.consumer.internal.dispatch.Dispatcher;
import dev.idem.consumer.internal.dispatch.Tasks;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.health.DatabaseProbe;
import dev.idem.consumer.internal.membership.InstanceIdGuard;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.offset.DatabaseOffsets;
import dev.idem.consumer.internal.poll.PollLoop;
import dev.idem.consumer.internal.retention.RetentionJob;
import dev.idem.consumer.internal.retention.TopicRetentionGuard;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.internal.schema.SchemaVersionCheck;
import dev.idem.consumer.internal.store.ParkedKeys;
import dev.idem.consumer.internal.store.PostgresIdempotencyStore;
import dev.idem.consumer.internal.store.PostgresOffsetStore;
import dev.idem.consumer.internal.store.TransactionSettings;
import dev.idem.consumer.internal.tx.BatchProcessor;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import dev.idem.consumer.internal.tx.RecordProcessor;
import dev.idem.consumer.internal.tx.TxEnvironment;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka consumer that applies each event's database effect once per (consumer name, event id).
 *
 * <p>For every record it runs one PostgreSQL transaction: READ COMMITTED, transaction-local
 * timeouts, {@code pg_advisory_xact_lock} on the event's {@linkplain dev.idem.lock.LockKey lock
 * key}, the processed check and mark, the handler on the same connection, commit. Copies of one
 * event, wherever they arrive, wait on the lock and are then skipped. A record's offset counts as
 * done only after its commit.
 *
 * <pre>{@code
 * IdemConfig config = IdemConfig.builder("ledger-writer")
 *     .bootstrapServers("localhost:9092")
 *     .topics("payments")
 *     .build();
 * try (IdempotentConsumer<Payment> consumer =
 *     IdempotentConsumer.builder(config, Payloads.json(Payment.class))
 *         .dataSource(pool)
 *         .eventIds(EventIds.header("webhook-id"))
 *         .handler((payment, ctx) -> ledger.apply(ctx.connection(), payment))
 *         .build()) {
 *   consumer.start();
 *   ...
 * }
 * }</pre>
 *
 * @param <T> the payload type
 */
public final class IdempotentConsumer<T> implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(IdempotentConsumer.class);

  private final IdemConfig config;
  private final Builder<T> parts;
  private final AtomicReference<ConsumerSnapshot> snapshot;
  private final Object lifecycle = new Object();
  private ConsumerState state = ConsumerState.CREATED;
  private HikariDataSource ownedPool;
  private ExecutorService ownedExecutor;
  private ScheduledExecutorService scheduler;
  private ScheduledExecutorService retentionScheduler;
  private ScheduledExecutorService watchdogTimer;
  private volatile Watchdog watchdog;
  private PollLoop loop;
  private Thread pollThread;
  private ConsumerMetrics metrics;
  private DeadLetterPublisher deadLetters;
  private volatile DatabaseProbe databaseProbe;
  private DatabaseOffsets databaseOffsets;
  private InstanceIdGuard instanceGuard;

  private IdempotentConsumer(Builder<T> parts) {
    this.config = parts.config;
    this.parts = parts;
    this.snapshot =
        new AtomicReference<>(
            ConsumerSnapshot.initial(ConsumerState.CREATED, parts.clock.instant()));
  }

  /** A builder for a consumer with {@code config}, reading payloads with {@code payloads}. */
  public static <T> Builder<T> builder(IdemConfig config, PayloadDeserializer<T> payloads) {
    return new Builder<>(config, payloads);
  }

  /** The consumer's name. */
  public String name() {
    return config.consumerName();
  }

  /** The consumer's configuration. */
  public IdemConfig config() {
    return config;
  }

  /** The latest snapshot published by the poll thread. */
  public ConsumerSnapshot snapshot() {
    return snapshot.get();
  }

  /**
   * The consumer's health: its state and partitions from the latest snapshot, whether the database
   * answered the last background probe (every two seconds; a probe that takes longer than two
   * seconds counts as unreachable), and how many workers are stuck. Cheap: no thread, no
   * connection, no I/O per call.
   */
  public ConsumerHealth health() {
    ConsumerSnapshot s = snapshot.get();
    Watchdog w = watchdog;
    return new ConsumerHealth(
        name(),
        s.state(),
        s.assigned(),
        s.lastCommit(),
        databaseReachable(),
        s.inFlight(),
        w == null ? 0 : w.stuckWorkers(),
        config.maxAbandonedWorkers());
  }

  private boolean databaseReachable() {
    DatabaseProbe probe = databaseProbe;
    return probe != null && probe.reachable();
  }

  /** The meter registry the consumer's {@code idem.*} meters are registered in. */
  public MeterRegistry meterRegistry() {
    return parts.meterRegistry;
  }

  /**
   * Applies the schema (unless disabled), checks the server, logs the effective configuration and
   * starts polling on a thread of its own. Returns once the poll thread runs; partitions are
   * assigned asynchronously.
   *
   * @throws IdemException when the database cannot be reached or the schema cannot be applied
   * @throws SchemaVersionException with {@code applySchema(false)}, when the schema is not at the
   *     version of idem's scripts that this release needs
   * @throws IdemConfigException naming {@code consumer.retention.window} when offsets are kept in
   *     Kafka and a topic can deliver records for longer than processed marks are kept (see {@code
   *     docs/operations.md})
   * @throws IllegalStateException when called twice
   */
  public void start() {
    synchronized (lifecycle) {
      if (state != ConsumerState.CREATED) {
        throw new IllegalStateException("consumer " + name() + " was already started");
      }
      state = ConsumerState.STARTING;
    }
    try {
      start0();
    } catch (RuntimeException e) {
      synchronized (lifecycle) {
        state = ConsumerState.FAILED;
      }
      releaseResources();
      throw e;
    }
  }

  private void start0() {
    DataSource dataSource = dataSource();
    if (parts.applySchema) {
      ConsumerSchemas.core(config.schema(), config.processedTable(), config.deadLetterTable())
          .migrate(dataSource);
      if (config.offsetStore() == OffsetStore.POSTGRESQL) {
        ConsumerSchemas.offsets(config.schema()).migrate(dataSource);
      }
    } else {
      SchemaVersionCheck.require(dataSource, config);
    }
    Transactions transactions =
        Transactions.checking(
            config.transactionStateCheck() == TransactionStateCheck.DRIVER
                ? Transactions.StateCheck.DRIVER
                : Transactions.StateCheck.QUERY);
    int serverVersion = checkServer(dataSource, transactions);
    databaseProbe =
        new DatabaseProbe(
            name(),
            dataSource,
            true,
            Executors.newSingleThreadScheduledExecutor(threads("health")));
    instanceGuard = InstanceIdGuard.acquire(config, dedicatedConnections(), parts.meterRegistry);
    log.info("starting idem consumer {} with{}", name(), config.describe());
    metrics = new ConsumerMetrics(parts.meterRegistry, name());
    metrics.registerInFlight(() -> snapshot.get().inFlight());
    Watchdog watchdog =
        new Watchdog(
            name(),
            config.lockTimeout(),
            config.handlerTimeout(),
            config.maxAbandonedWorkers(),
            ConnectionAborter.forPool(dataSource),
            metrics);
    this.watchdog = watchdog;
    metrics.registerStuckWorkers(watchdog::stuckWorkers);
    PostgresIdempotencyStore store =
        new PostgresIdempotencyStore(
            name(),
            config.schema(),
            config.processedTable(),
            config.deadLetterTable(),
            new TransactionSettings(config.lockTimeout(), config.handlerTimeout(), serverVersion),
            config.offsetStore());
    deadLetters =
        config.deadLetterTopic() == null
            ? DeadLetterPublisher.NONE
            : new KafkaDeadLetterPublisher(config);
    EventHandler<T> recordHandler =
        parts.batchHandler == null ? parts.handler : batchOfOne(parts.batchHandler);
    TxEnvironment env =
        new TxEnvironment(
            name(),
            config.lockNamespace(),
            dataSource,
            store,
            parts.lockKeys,
            metrics,
            parts.faults,
            transactions,
            watchdog);
    RecordProcessor<T> processor =
        new RecordProcessor<>(
            env,
            parts.eventIds,
            parts.payloads,
            recordHandler,
            deadLetters,
            config.deadLetterMode() == DeadLetterMode.PARK_KEY
                ? new ParkedKeys(name(), config.schema(), config.deadLetterTable())
                : null);
    scheduler = Executors.newSingleThreadScheduledExecutor(threads("retry"));
    Executor executor = parts.executor;
    if (executor == null) {
      // Cached, not fixed: a worker abandoned by the watchdog may stay alive (blocked) while its
      // replacement runs; the dispatcher still runs at most consumer.concurrency records at once.
      ownedExecutor = Executors.newCachedThreadPool(threads("worker"));
      executor = ownedExecutor;
    } else if (executor instanceof java.util.concurrent.ThreadPoolExecutor pool
        && pool.getMaximumPoolSize() < config.concurrency() + config.maxAbandonedWorkers()) {
      log.warn(
          "the executor given to {} runs at most {} threads: a worker abandoned by the watchdog"
              + " would not be replaced while it is alive, and its record's lane would wait in the"
              + " executor's queue; give it at least consumer.concurrency +"
              + " consumer.max-abandoned-workers = {} threads, or use a cached pool",
          name(),
          pool.getMaximumPoolSize(),
          config.concurrency() + config.maxAbandonedWorkers());
    }
    AtomicReference<PollLoop> loopRef = new AtomicReference<>();
    AtomicReference<Dispatcher> dispatcherRef = new AtomicReference<>();
    Runnable onCrash =
        () -> {
          dispatcherRef.get().halt();
          loopRef.get().crash();
        };
    Tasks.FailureSettings failures =
        new Tasks.FailureSettings(config.retry(), parts.classifier, config.readRetryTimeout());
    Dispatcher dispatcher;
    OrderingKey orderingKey = parts.orderingKey;
    if (parts.batchHandler == null) {
      dispatcher =
          new Dispatcher(
              executor,
              scheduler,
              Tasks.forRecords(name(), processor, failures, metrics, onCrash),
              watchdog,
              config.concurrency(),
              1);
    } else {
      BatchProcessor<T> batches =
          new BatchProcessor<>(env, parts.batchHandler, config.batchMaxLocks());
      dispatcher =
          new Dispatcher(
              executor,
              scheduler,
              Tasks.forBatches(name(), processor, batches, failures, metrics, onCrash),
              watchdog,
              config.concurrency(),
              config.batchSize());
      // Batches hold a partition's records in offset order, one batch per partition at a time.
      orderingKey = OrderingKeys.partition();
    }
    dispatcherRef.set(dispatcher);
    int maxPollRecords =
        Integer.parseInt(
            Objects.toString(config.kafka().getOrDefault("max.poll.records", "500")).trim());
    if (config.offsetStore() == OffsetStore.POSTGRESQL) {
      databaseOffsets =
          new DatabaseOffsets(
              name(),
              dataSource,
              new PostgresOffsetStore(name(), config.schema()),
              Executors.newSingleThreadScheduledExecutor(threads("offsets")));
    }
    loop =
        new PollLoop(
            config,
            parts.clientFactory,
            dispatcher,
            metrics,
            orderingKey,
            parts.clock,
            maxPollRecords,
            snapshot,
            databaseOffsets);
    loopRef.set(loop);
    startRetention(dataSource);
    watchdogTimer = Executors.newSingleThreadScheduledExecutor(threads("watchdog"));
    watchdog.start(watchdogTimer, config.handlerTimeout());
    pollThread = threads("poll").newThread(loop);
    pollThread.setUncaughtExceptionHandler((t, e) -> InstanceIdGuard.explainIfFenced(config, e));
    synchronized (lifecycle) {
      state = ConsumerState.RUNNING;
    }
    pollThread.start();
  }

  /** Connections for session locks: the builder's, or new ones with the settings of the pool. */
  private ConnectionFactory dedicatedConnections() {
    if (parts.lockConnections != null) {
      return parts.lockConnections;
    }
    if (parts.dataSource instanceof HikariDataSource hikari) {
      return ConnectionFactory.sameServerAs(hikari);
    }
    return ownedPool == null ? null : ConnectionFactory.sameServerAs(ownedPool);
  }

  private void startRetention(DataSource dataSource) {
    if (config.retentionWindow() == null) {
      log.info("retention of processed marks is off for {}", name());
      return;
    }
    ConnectionFactory lockConnections = dedicatedConnections();
    if (lockConnections == null) {
      // No job, so marks are never deleted: nothing for the topic-retention check to refuse.
      log.warn(
          "retention of processed marks is off for {}: its singleton job needs dedicated"
              + " connections; pass lockConnections(ConnectionFactory) to the builder, or set"
              + " consumer.retention.window=off to silence this",
          name());
      return;
    }
    retentionScheduler = Executors.newSingleThreadScheduledExecutor(threads("retention"));
    new TopicRetentionGuard(config, retentionScheduler, this::stopForTopicRetention).start();
    AdvisoryLocks locks =
        AdvisoryLocks.builder(lockConnections)
            .meterRegistry(parts.meterRegistry)
            .schema(config.schema())
            .clock(parts.clock)
            .build();
    RetentionJob job =
        new RetentionJob(
            locks,
            dataSource,
            config.schema(),
            config.processedTable(),
            name(),
            config.retentionWindow(),
            config.retentionBatchSize(),
            parts.clock);
    long interval = config.retentionInterval().toMillis();
    retentionScheduler.scheduleWithFixedDelay(
        () -> {
          try {
            job.runOnce();
          } catch (RuntimeException e) {
            log.warn("retention run of {} failed; next try in {} ms", name(), interval, e);
          }
        },
        interval,
        interval,
        TimeUnit.MILLISECONDS);
  }

  /**
   * A background check found, after start, that a topic outlives the processed marks: stop the way
   * a fatal error does (state FAILED; offsets not yet committed are redelivered to the group and
   * skipped by their marks).
   */
  private void stopForTopicRetention(IdemConfigException refusal) {
    synchronized (lifecycle) {
      if (state != ConsumerState.RUNNING && state != ConsumerState.STARTING) {
        return; // closing or closed: nothing to stop
      }
      state = ConsumerState.FAILED;
    }
    log.error("stopping consumer {}: {}", name(), refusal.getMessage());
    loop.crash();
  }

  /** The batch handler as a handler of one record, for the one-at-a-time fall-back. */
  private EventHandler<T> batchOfOne(BatchHandler<T> batch) {
    return (payload, ctx) ->
        batch.handle(
            java.util.List.of(
                new BatchEvent<>(
                    payload,
                    ctx.eventId(),
                    ctx.topic(),
                    ctx.partition(),
                    ctx.offset(),
                    ctx.key(),
                    ctx.headers())),
            new BatchContext() {
              @Override
              public String consumerName() {
                return ctx.consumerName();
              }

              @Override
              public int attempt() {
                return ctx.attempt();
              }

              @Override
              public Connection connection() {
                return ctx.connection();
              }

              @Override
              public <R> R withSavepoint(SqlWork<R> work) throws SQLException {
                return ctx.withSavepoint(work);
              }
            });
  }

  private DataSource dataSource() {
    if (parts.dataSource != null) {
      return parts.dataSource;
    }
    IdemConfig.DatabaseSettings db = config.database();
    if (db == null) {
      throw new IdemConfigException(
          "pg.url", "is missing; set it (or PG_URL), or give the builder a DataSource");
    }
    ownedPool = new HikariDataSource(OwnedPool.settings(config));
    return ownedPool;
  }

  /**
   * Checks that the pool's connections can be checked for a misused transaction, warns about
   * non-durable settings, and returns the server's {@code server_version_num}.
   */
  private int checkServer(DataSource dataSource, Transactions transactions) {
    try {
      return transactions.run(dataSource, c -> checkServer(c, transactions));
    } catch (IdemException e) {
      throw e;
    } catch (Exception e) {
      throw new IdemException("cannot reach PostgreSQL to start " + name() + ": " + e, e);
    }
  }

  private int checkServer(Connection c, Transactions transactions) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT current_setting('fsync'), current_setting('server_version_num')::int")) {
      rs.next();
      if (!transactions.canCheck(c)) {
        throw new IdemConfigException(
            "consumer.transaction-state-check",
            "driver: the pool's connections ("
                + c.getClass().getName()
                + ") do not unwrap to pgjdbc's org.postgresql.core.BaseConnection, so idem cannot"
                + " read whether a handler left its transaction aborted; use a pool whose"
                + " connections unwrap (HikariCP, pgjdbc's data sources), or set"
                + " consumer.transaction-state-check=query (one SELECT 1 per transaction)");
      }
      if (!"on".equals(rs.getString(1))) {
        log.warn(
            "PostgreSQL runs with fsync=off: a server crash can lose commits whose offsets were"
                + " already committed, and their events would never be applied");
      }
      return rs.getInt(2);
    }
  }

  private ThreadFactory threads(String role) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "idem-" + name() + "-" + role + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /**
   * Finishes in-flight records (up to the drain timeout), commits their offsets, leaves the group
   * and releases the threads and the pool idem opened. Idempotent.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      if (state == ConsumerState.CLOSED) {
        return;
      }
      state = ConsumerState.CLOSING;
    }
    // A start() that failed after building the loop (a refused retention check) left no thread.
    if (pollThread != null) {
      loop.close();
      joinPollThread();
    }
    releaseResources();
    synchronized (lifecycle) {
      state = ConsumerState.CLOSED;
    }
  }

  private void joinPollThread() {
    long waitMillis = config.drainTimeout().toMillis() + 20_000;
    try {
      pollThread.join(waitMillis);
      if (pollThread.isAlive()) {
        log.warn("poll thread of {} did not stop within {} ms; stopping it", name(), waitMillis);
        loop.crash();
        pollThread.join(5_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void releaseResources() {
    if (databaseProbe != null) {
      databaseProbe.close();
    }
    if (watchdogTimer != null) {
      watchdogTimer.shutdownNow();
    }
    if (ownedExecutor != null) {
      ownedExecutor.shutdownNow();
      awaitQuietly(ownedExecutor);
    }
    if (scheduler != null) {
      scheduler.shutdownNow();
    }
    if (retentionScheduler != null) {
      retentionScheduler.shutdownNow();
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

  /** Stops as if the process died: nothing more is committed. For fault tests. */
  void crash() {
    if (loop != null) {
      loop.crash();
    }
  }

  /**
   * Assembles a consumer. The configuration, the payload deserializer, the event-id extractor, the
   * handler and a data source (given here or as {@code pg.url} in the configuration) are required.
   *
   * @param <T> the payload type
   */
  public static final class Builder<T> {
    private final IdemConfig config;
    private final PayloadDeserializer<T> payloads;
    private DataSource dataSource;
    private EventIdExtractor eventIds;
    private EventHandler<T> handler;
    private BatchHandler<T> batchHandler;
    private MeterRegistry meterRegistry;
    private Clock clock = Clock.systemUTC();
    private FailureClassifier classifier = FailureClassifier.retryAll();
    private OrderingKey orderingKey = OrderingKeys.recordKey();
    private Executor executor;
    private ConnectionFactory lockConnections;
    private boolean applySchema = true;
    private FaultHook faults = FaultHook.NONE;
    private LockKeyFunction lockKeys = LockKeyFunction.V1;
    private Function<Map<String, Object>, Consumer<byte[], byte[]>> clientFactory =
        KafkaConsumer::new;

    private Builder(IdemConfig config, PayloadDeserializer<T> payloads) {
      this.config = Objects.requireNonNull(config, "config");
      this.payloads = payloads;
    }

    /**
     * The pool transactions run on. It must hold at least {@code concurrency + 2} connections. idem
     * does not close it. Without one, idem opens a HikariCP pool from {@code pg.*}.
     */
    public Builder<T> dataSource(DataSource dataSource) {
      this.dataSource = dataSource;
      return this;
    }

    /** Where the event id comes from; required. See {@link EventIds}. */
    public Builder<T> eventIds(EventIdExtractor eventIds) {
      this.eventIds = eventIds;
      return this;
    }

    /** The handler; required. */
    public Builder<T> handler(EventHandler<T> handler) {
      this.handler = handler;
      return this;
    }

    /**
     * Batch mode: the handler of many events in one transaction, instead of {@link
     * #handler(EventHandler)}. Each partition's records are batched in offset order (up to {@code
     * consumer.batch.size}), one batch per partition at a time; partitions run concurrently.
     */
    public Builder<T> batchHandler(BatchHandler<T> batchHandler) {
      this.batchHandler = batchHandler;
      return this;
    }

    /** Where the {@code idem.*} meters go; default a private {@link SimpleMeterRegistry}. */
    public Builder<T> meterRegistry(MeterRegistry meterRegistry) {
      this.meterRegistry = meterRegistry;
      return this;
    }

    /** The clock for timestamps; default UTC system clock. */
    public Builder<T> clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Decides retry or give-up for handler failures; default retry. */
    public Builder<T> failureClassifier(FailureClassifier classifier) {
      this.classifier = Objects.requireNonNull(classifier, "classifier");
      return this;
    }

    /**
     * Which records of a partition run one at a time in offset order; default {@link
     * OrderingKeys#recordKey()}.
     */
    public Builder<T> orderingKey(OrderingKey orderingKey) {
      this.orderingKey = Objects.requireNonNull(orderingKey, "orderingKey");
      return this;
    }

    /**
     * The executor whose threads run handlers, for example {@code
     * Executors.newVirtualThreadPerTaskExecutor()} on Java 21+. idem still runs at most {@code
     * consumer.concurrency} records at once, and does not shut it down. When a handler hangs and
     * the watchdog abandons its worker (see {@code consumer.max-abandoned-workers}), the
     * replacement comes from this executor while the abandoned thread may still be alive, so it
     * must be able to give more threads than the concurrency: a fixed pool of {@code concurrency}
     * threads would have none left. Default: a cached pool of platform threads owned by the
     * consumer.
     */
    public Builder<T> executor(Executor executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Dedicated connections for session locks: the retention job's singleton lock, and the guard of
     * {@code kafka.group.instance.id} (static membership is refused without them). Not needed when
     * the data source is a HikariCP pool or idem opens its own pool from {@code pg.*}: connections
     * with the same settings are opened then.
     */
    public Builder<T> lockConnections(ConnectionFactory connections) {
      this.lockConnections = Objects.requireNonNull(connections, "connections");
      return this;
    }

    /**
     * Whether {@link #start()} applies idem's schema scripts (default true). Turn off when your own
     * migrations apply them (see {@code docs/schema.md}); {@link #start()} then checks that the
     * schema is at the version this release needs and throws {@link SchemaVersionException} if not.
     */
    public Builder<T> applySchema(boolean applySchema) {
      this.applySchema = applySchema;
      return this;
    }

    Builder<T> faultHook(FaultHook faults) {
      this.faults = faults;
      return this;
    }

    Builder<T> lockKeyFunction(LockKeyFunction lockKeys) {
      this.lockKeys = lockKeys;
      return this;
    }

    /**
     * Checks that everything required is present.
     *
     * @throws IdemConfigException naming what is missing
     */
    public IdempotentConsumer<T> build() {
      if (payloads == null) {
        throw new IdemConfigException(
            "payloads", "is missing; pass a PayloadDeserializer such as Payloads.json(Type.class)");
      }
      if (eventIds == null) {
        throw new IdemConfigException(
            "eventIds",
            "is missing: idem deduplicates by event id; call .eventIds(EventIds.header(\"webhook-id\"))"
                + " or another EventIds factory");
      }
      if (handler == null && batchHandler == null) {
        throw new IdemConfigException(
            "handler",
            "is missing; call .handler((event, ctx) -> ...) or .batchHandler((events, ctx) -> ...)");
      }
      if (handler != null && batchHandler != null) {
        throw new IdemConfigException(
            "handler", "give either a handler or a batch handler, not both");
      }
      if (batchHandler != null && config.deadLetterMode() == DeadLetterMode.PARK_KEY) {
        throw new IdemConfigException(
            "consumer.dead-letter.on-failure",
            "park-key is not available in batch mode (a batch holds many keys); use a per-record"
                + " handler, or skip");
      }
      if (dataSource == null && config.database() == null) {
        throw new IdemConfigException(
            "pg.url", "is missing; set it (or PG_URL), or call .dataSource(pool)");
      }
      if (dataSource instanceof HikariDataSource hikari) {
        int needed = config.concurrency() + 2;
        if (hikari.getMaximumPoolSize() < needed) {
          throw new IdemConfigException(
              "pg.pool-size",
              "the HikariCP pool holds "
                  + hikari.getMaximumPoolSize()
                  + " connections; consumer.concurrency="
                  + config.concurrency()
                  + " needs at least concurrency + 2 = "
                  + needed
                  + ": raise maximumPoolSize or lower the concurrency");
        }
      }
      if (meterRegistry == null) {
        meterRegistry = new SimpleMeterRegistry();
      }
      return new IdempotentConsumer<>(this);
    }
  }
}
