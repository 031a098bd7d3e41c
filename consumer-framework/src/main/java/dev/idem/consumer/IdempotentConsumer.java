package dev.idem.consumer;

import dev.idem.IdemException;
import dev.idem.consumer.internal.health.PollStall;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.lifecycle.RuntimeSignals;
import dev.idem.consumer.internal.metrics.HealthGauges;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import dev.idem.consumer.internal.runtime.ConsumerRuntime;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.Function;
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
public final class IdempotentConsumer<T> implements IdemConsumer {
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
  @Override
  public String name() {
    return parts.config().consumerName();
  }

  /** The consumer's configuration. */
  @Override
  public IdemConfig config() {
    return parts.config();
  }

  /**
   * The latest snapshot published by the poll thread. Its state is always the consumer's current
   * one (see {@link ConsumerState}), also before the first poll and after a failed start.
   */
  @Override
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
  @Override
  public ConsumerHealth health() {
    ConsumerRuntime<T> r = runtime;
    return status.health(
        name(),
        r == null ? RuntimeSignals.NOT_STARTED : r,
        config().maxAbandonedWorkers(),
        PollStall.timeout(config()));
  }

  /** The meter registry the consumer's {@code idem.*} meters are registered in. */
  @Override
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
  @Override
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
   * Assembles a consumer in a consumer group: what {@link ConsumerBuilder} takes, and the ordering
   * key and the executor only a consumer group has.
   *
   * @param <T> the payload type
   */
  public static final class Builder<T> extends ConsumerBuilder<T, Builder<T>> {
    private OrderingKey orderingKey = OrderingKeys.recordKey();
    private Executor executor;
    private LockKeyFunction lockKeys = LockKeyFunction.V1;
    private Function<Map<String, Object>, Consumer<byte[], byte[]>> clientFactory =
        KafkaConsumer::new;

    private Builder(IdemConfig config, PayloadDeserializer<T> payloads) {
      super(config, payloads);
    }

    @Override
    Builder<T> self() {
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

    Builder<T> lockKeyFunction(LockKeyFunction lockKeys) {
      this.lockKeys = lockKeys;
      return this;
    }

    @Override
    public IdempotentConsumer<T> build() {
      return new IdempotentConsumer<>(parts(orderingKey, executor, lockKeys, clientFactory));
    }
  }
}
