package dev.idem.consumer;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.HealthGauges;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import dev.idem.consumer.internal.share.ShareRuntime;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import java.time.Clock;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.ShareConsumer;

/**
 * An idempotent consumer in a Kafka share group (KIP-932): any number of instances read the same
 * partitions cooperatively, so a team can scale past its partition count. Each record runs in the
 * same transaction as in {@link IdempotentConsumer} (READ COMMITTED, the advisory lock on its event
 * id, the processed check and mark, the handler, commit) and is then acknowledged: a copy whose
 * mark exists, such as the redelivery of a record whose acquisition lock expired while its handler
 * still ran, waits on the lock and is accepted without the handler.
 *
 * <p>What differs from the consumer-group mode (see {@code docs/share-groups.md}): no order at all,
 * so no ordering keys, no offsets in PostgreSQL, no park-key dead-letter mode (each is refused
 * naming its setting); batch and grouped transactions take up to their size of one partition's
 * records of a poll, in no particular order; retries happen locally within the acquisition lock,
 * then by redelivery; the group's delivery-count limit is honoured by dead-lettering a record in
 * idem's table on its last delivery instead of letting the broker archive it.
 *
 * <pre>{@code
 * try (IdempotentShareConsumer<Payment> consumer =
 *     IdempotentShareConsumer.builder(config, Payloads.json(Payment.class))
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
public final class IdempotentShareConsumer<T> implements AutoCloseable {
  private final ConsumerParts<T> parts;
  private final Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients;
  private final Object lifecycle = new Object();
  private HealthGauges healthGauges;
  private volatile ShareRuntime<T> runtime;
  private volatile ConsumerState state = ConsumerState.CREATED;

  private IdempotentShareConsumer(
      ConsumerParts<T> parts,
      Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients) {
    this.parts = parts;
    this.clients = clients;
  }

  /** A builder for a share consumer with {@code config}, reading payloads with {@code payloads}. */
  public static <T> Builder<T> builder(IdemConfig config, PayloadDeserializer<T> payloads) {
    return new Builder<>(config, payloads);
  }

  /** The consumer's name (processed marks are kept per name and event id). */
  public String name() {
    return parts.config().consumerName();
  }

  /** The share group's id: {@code kafka.group.id}, by default the consumer's name. */
  public String groupId() {
    return String.valueOf(ShareRuntime.clientProperties(parts.config()).get("group.id"));
  }

  /** The registry the {@code idem.*} meters go to. */
  public MeterRegistry meterRegistry() {
    return parts.meterRegistry();
  }

  /**
   * The consumer's health as in the consumer-group mode; a share consumer has no assigned
   * partitions to show.
   */
  public ConsumerHealth health() {
    ShareRuntime<T> r = runtime;
    if (r == null) {
      return ConsumerHealth.builder(name(), state)
          .maxAbandonedWorkers(parts.config().maxAbandonedWorkers())
          .pollStallTimeout(java.time.Duration.ofDays(1))
          .build();
    }
    ConsumerHealth h = r.health(name(), parts.config().maxAbandonedWorkers());
    return state == ConsumerState.RUNNING ? h : withState(h, state);
  }

  private static ConsumerHealth withState(ConsumerHealth h, ConsumerState state) {
    return ConsumerHealth.builder(h.consumer(), state)
        .assigned(h.assigned())
        .lastCommit(h.lastCommit())
        .databaseReachable(h.databaseReachable())
        .inFlight(h.inFlight())
        .stuckWorkers(h.stuckWorkers())
        .maxAbandonedWorkers(h.maxAbandonedWorkers())
        .brokerReachable(h.brokerReachable())
        .lastPoll(h.lastPoll())
        .sinceLastPoll(h.sinceLastPoll())
        .pollStallTimeout(h.pollStallTimeout())
        .build();
  }

  /**
   * Applies the schema (unless disabled), checks the server, sets the share group's isolation level
   * to read_committed and its offset reset to earliest (unless the group set its own), reads its
   * delivery-count limit and lock duration, and starts polling. A consumer starts once.
   *
   * @throws IdemConfigException when the group is set to read_uncommitted
   * @throws IllegalStateException when called a second time
   */
  public void start() {
    synchronized (lifecycle) {
      if (state != ConsumerState.CREATED) {
        throw new IllegalStateException("consumer " + name() + " is " + state + "; start it once");
      }
      state = ConsumerState.STARTING;
      try {
        runtime = ShareRuntime.start(parts, clients, ShareRuntime.clientProperties(parts.config()));
        state = ConsumerState.RUNNING;
        healthGauges = HealthGauges.register(parts.meterRegistry(), name(), this::health);
      } catch (RuntimeException | Error e) {
        state = ConsumerState.FAILED;
        throw e;
      }
    }
  }

  /**
   * Finishes the records of the current poll, acknowledges them, leaves the group and releases what
   * idem opened. Idempotent.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      if (state == ConsumerState.CLOSED) {
        return;
      }
      state = ConsumerState.CLOSING;
      ShareRuntime<T> r = runtime;
      if (r != null) {
        r.close();
      }
      if (healthGauges != null) {
        healthGauges.close();
      }
      state = ConsumerState.CLOSED;
    }
  }

  /** Acknowledgements the broker refused (mostly locks that expired), for tests. */
  double acknowledgementsFailed() {
    ShareRuntime<T> r = runtime;
    return r == null ? 0 : r.acknowledgementsFailed();
  }

  /**
   * Assembles a share consumer: the configuration, the payload deserializer, the event-id
   * extractor, the handler and a data source (or {@code pg.*}) are required.
   *
   * @param <T> the payload type
   */
  public static final class Builder<T> {
    private final IdemConfig config;
    private final PayloadDeserializer<T> payloads;
    private EventHandler<T> handler;
    private BatchHandler<T> batchHandler;
    private EventIdExtractor eventIds;
    private DataSource dataSource;
    private MeterRegistry meterRegistry;
    private ObservationRegistry observationRegistry = ObservationRegistry.NOOP;
    private FailureClassifier classifier = FailureClassifier.retryAll();
    private boolean applySchema = true;
    private TransactionHook transactionHook = TransactionHook.NONE;
    private FaultHook faults = FaultHook.NONE;
    private Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients =
        KafkaShareConsumer::new;

    private Builder(IdemConfig config, PayloadDeserializer<T> payloads) {
      this.config = Objects.requireNonNull(config, "config");
      this.payloads = payloads;
    }

    /** The handler; required. */
    public Builder<T> handler(EventHandler<T> handler) {
      this.handler = handler;
      return this;
    }

    /**
     * Batch mode, instead of {@link #handler(EventHandler)}: up to {@code consumer.batch.size}
     * records of one partition of a poll in one transaction (no order among them); a failed batch
     * falls back to one record at a time.
     */
    public Builder<T> batchHandler(BatchHandler<T> batchHandler) {
      this.batchHandler = batchHandler;
      return this;
    }

    /**
     * The pool transactions run on (at least concurrency + 2 connections); idem does not close it.
     */
    public Builder<T> dataSource(DataSource dataSource) {
      this.dataSource = dataSource;
      return this;
    }

    /** Where the event id comes from; required. */
    public Builder<T> eventIds(EventIdExtractor eventIds) {
      this.eventIds = eventIds;
      return this;
    }

    /** Where the {@code idem.*} meters go; default a private registry. */
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

    /** Decides retry or give-up for handler failures; default retry. */
    public Builder<T> failureClassifier(FailureClassifier classifier) {
      this.classifier = Objects.requireNonNull(classifier, "classifier");
      return this;
    }

    /** Whether {@link #start()} applies idem's schema scripts (default true). */
    public Builder<T> applySchema(boolean applySchema) {
      this.applySchema = applySchema;
      return this;
    }

    /** Code that takes part in every handler's transaction; see {@link TransactionHook}. */
    public Builder<T> transactionHook(TransactionHook hook) {
      this.transactionHook = Objects.requireNonNull(hook, "hook");
      return this;
    }

    Builder<T> faultHook(FaultHook faults) {
      this.faults = faults;
      return this;
    }

    Builder<T> clients(Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients) {
      this.clients = clients;
      return this;
    }

    /**
     * Checks that everything required is present and that the configuration has a meaning in a
     * share group.
     *
     * @throws IdemConfigException naming what is missing, or the setting that needs an order share
     *     groups do not give
     */
    public IdempotentShareConsumer<T> build() {
      if (config.offsetStore() == OffsetStore.POSTGRESQL) {
        throw new IdemConfigException(
            "consumer.offset-store",
            "postgresql is for consumer groups: a share group has no offsets to keep, the broker"
                + " tracks each record's state; remove the setting");
      }
      if (config.deadLetterMode() == DeadLetterMode.PARK_KEY) {
        throw new IdemConfigException(
            "consumer.dead-letter.on-failure",
            "park-key keeps a key's later records behind a dead letter, and a share group"
                + " delivers in no order; use skip (the default)");
      }
      if (config.kafka().containsKey("group.instance.id")) {
        throw new IdemConfigException(
            "kafka.group.instance.id",
            "share groups have no static membership; remove the setting");
      }
      return new IdempotentShareConsumer<>(
          new ConsumerParts<>(
              config,
              payloads,
              dataSource,
              eventIds,
              handler,
              batchHandler,
              meterRegistry == null ? new SimpleMeterRegistry() : meterRegistry,
              Clock.systemUTC(),
              classifier,
              OrderingKeys.none(),
              null,
              null,
              applySchema,
              faults,
              LockKeyFunction.V1,
              KafkaConsumer::new,
              () -> OwnedPool.settings(config),
              transactionHook,
              observationRegistry),
          clients);
    }
  }
}
