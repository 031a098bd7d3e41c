package dev.idem.consumer;

import dev.idem.IdemException;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.health.PollStall;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.metrics.HealthGauges;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import dev.idem.consumer.internal.runtime.ConsumerRuntime;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import java.time.Clock;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.Function;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;

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
  private final ConsumerParts<T> parts;
  private final ConsumerStatus status;

  /** Serializes start() and close(): a close() during a start() waits for it, then stops it. */
  private final Object lifecycle = new Object();

  private HealthGauges healthGauges;

  private volatile ConsumerRuntime<T> runtime;

  private IdempotentConsumer(ConsumerParts<T> parts) {
    this.parts = parts;
    this.status = new ConsumerStatus(parts.clock().instant());
  }

  /** A builder for a consumer with {@code config}, reading payloads with {@code payloads}. */
  public static <T> Builder<T> builder(IdemConfig config, PayloadDeserializer<T> payloads) {
    return new Builder<>(config, payloads);
  }

  /** The consumer's name. */
  public String name() {
    return parts.config().consumerName();
  }

  /** The consumer's configuration. */
  public IdemConfig config() {
    return parts.config();
  }

  /**
   * The latest snapshot published by the poll thread. Its state is always the consumer's current
   * one (see {@link ConsumerState}), also before the first poll and after a failed start.
   */
  public ConsumerSnapshot snapshot() {
    return status.snapshot();
  }

  /**
   * The consumer's health: its state, partitions and broker connection from the latest snapshot,
   * whether the database answered the last background probe (every two seconds; a probe that takes
   * longer than two seconds counts as unreachable), how many workers are stuck, and how long ago
   * the poll thread last published. Its {@link ConsumerHealth#ready()} and {@link
   * ConsumerHealth#live()} are the readiness and liveness answers. Cheap: no thread, no connection,
   * no I/O per call.
   */
  public ConsumerHealth health() {
    ConsumerSnapshot s = status.snapshot();
    ConsumerRuntime<T> r = runtime;
    return ConsumerHealth.builder(name(), s.state())
        .assigned(s.assigned())
        .lastCommit(s.lastCommit())
        .databaseReachable(r != null && r.databaseReachable())
        .inFlight(s.inFlight())
        .stuckWorkers(r == null ? 0 : r.stuckWorkers())
        .maxAbandonedWorkers(config().maxAbandonedWorkers())
        .brokerReachable(s.brokerReachable())
        .lastPoll(status.lastPoll())
        .sinceLastPoll(status.sinceLastPoll())
        .pollStallTimeout(PollStall.timeout(config()))
        .build();
  }

  /** The meter registry the consumer's {@code idem.*} meters are registered in. */
  public MeterRegistry meterRegistry() {
    return parts.meterRegistry();
  }

  /**
   * Applies the schema (unless disabled), checks the server, logs the effective configuration and
   * starts polling on a thread of its own. Returns once the poll thread runs, in state {@code
   * RUNNING}; partitions are assigned asynchronously. A consumer starts once: after a failed start
   * it stays {@code FAILED} (close it, and build a new one).
   *
   * @throws IdemException when the database cannot be reached or the schema cannot be applied
   * @throws SchemaVersionException with {@code applySchema(false)}, when the schema is not at the
   *     version of idem's scripts that this release needs
   * @throws IdemConfigException naming {@code consumer.retention.window} when offsets are kept in
   *     Kafka and a topic can deliver records for longer than processed marks are kept (see {@code
   *     docs/operations.md})
   * @throws IllegalStateException naming the state when called a second time
   */
  public void start() {
    synchronized (lifecycle) {
      status.starting(name());
      try {
        runtime = ConsumerRuntime.start(parts, status);
        healthGauges = HealthGauges.register(parts.meterRegistry(), name(), this::health);
      } catch (RuntimeException | Error e) {
        status.failed();
        throw e;
      }
    }
  }

  /**
   * Finishes in-flight records (up to the drain timeout), commits their offsets, leaves the group
   * and releases the threads and the pool idem opened. Ends in state {@code CLOSED}, also after a
   * failure. Idempotent.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      if (!status.closing()) {
        return;
      }
      ConsumerRuntime<T> r = runtime;
      if (r != null) {
        r.close();
      }
      if (healthGauges != null) {
        healthGauges.close();
      }
      status.closed();
    }
  }

  /** Stops as if the process died: nothing more is committed. For fault tests. */
  void crash() {
    ConsumerRuntime<T> r = runtime;
    if (r != null) {
      r.crash();
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
    private ObservationRegistry observationRegistry = ObservationRegistry.NOOP;
    private Clock clock = Clock.systemUTC();
    private FailureClassifier classifier = FailureClassifier.retryAll();
    private OrderingKey orderingKey = OrderingKeys.recordKey();
    private Executor executor;
    private ConnectionFactory lockConnections;
    private boolean applySchema = true;
    private TransactionHook transactionHook = TransactionHook.NONE;
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

    /**
     * Where the observations of record, batch and grouped transactions go (see docs/operations.md,
     * "Tracing"): register Micrometer Tracing's handlers on it, best through {@link
     * dev.idem.consumer.observation.tracing.IdemTracing#register}, to get one span per transaction
     * that continues the record's {@code traceparent}. Default {@link ObservationRegistry#NOOP}:
     * nothing is observed and nothing is spent on it.
     */
    public Builder<T> observationRegistry(ObservationRegistry observationRegistry) {
      this.observationRegistry = Objects.requireNonNull(observationRegistry, "observationRegistry");
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

    /**
     * Code that takes part in every transaction a handler runs in (see {@link TransactionHook});
     * for framework integrations such as idem's Spring Boot starter. Default {@link
     * TransactionHook#NONE}.
     */
    public Builder<T> transactionHook(TransactionHook hook) {
      this.transactionHook = Objects.requireNonNull(hook, "hook");
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
     * Checks that everything required is present, and copies this builder's values into the
     * consumer: changing the builder afterwards does not change it.
     *
     * @throws IdemConfigException naming what is missing
     */
    public IdempotentConsumer<T> build() {
      return new IdempotentConsumer<>(
          new ConsumerParts<>(
              config,
              payloads,
              dataSource,
              eventIds,
              handler,
              batchHandler,
              meterRegistry == null ? new SimpleMeterRegistry() : meterRegistry,
              clock,
              classifier,
              orderingKey,
              executor,
              lockConnections,
              applySchema,
              faults,
              lockKeys,
              clientFactory,
              () -> OwnedPool.settings(config),
              transactionHook,
              observationRegistry));
    }
  }
}
