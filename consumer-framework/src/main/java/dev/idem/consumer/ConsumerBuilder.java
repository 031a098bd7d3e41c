package dev.idem.consumer;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.runtime.ConsumerParts;
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

/**
 * What every idem consumer is assembled from, whichever group it reads in: the configuration, the
 * payload deserializer, the event-id extractor, the handler and a data source (given here or as
 * {@code pg.url} in the configuration) are required. {@link IdempotentConsumer.Builder} and {@link
 * IdempotentShareConsumer.Builder} add what only their kind has.
 *
 * @param <T> the payload type
 * @param <B> the builder's own type, returned by every setter
 */
public abstract class ConsumerBuilder<T, B extends ConsumerBuilder<T, B>> {
  final IdemConfig config;
  final PayloadDeserializer<T> payloads;
  DataSource dataSource;
  EventIdExtractor eventIds;
  EventHandler<T> handler;
  BatchHandler<T> batchHandler;
  MeterRegistry meterRegistry;
  ObservationRegistry observationRegistry = ObservationRegistry.NOOP;
  Clock clock = Clock.systemUTC();
  FailureClassifier classifier = FailureClassifier.retryAll();
  ConnectionFactory lockConnections;
  boolean applySchema = true;
  TransactionHook transactionHook = TransactionHook.NONE;
  FaultHook faults = FaultHook.NONE;

  ConsumerBuilder(IdemConfig config, PayloadDeserializer<T> payloads) {
    this.config = Objects.requireNonNull(config, "config");
    this.payloads = payloads;
  }

  /** This builder, as its own type. */
  abstract B self();

  /**
   * The pool transactions run on. It must hold at least {@code concurrency + 2} connections. idem
   * does not close it. Without one, idem opens a HikariCP pool from {@code pg.*}.
   */
  public B dataSource(DataSource dataSource) {
    this.dataSource = dataSource;
    return self();
  }

  /** Where the event id comes from; required. See {@link EventIds}. */
  public B eventIds(EventIdExtractor eventIds) {
    this.eventIds = eventIds;
    return self();
  }

  /** The handler; required, unless a {@link #batchHandler(BatchHandler)} is given. */
  public B handler(EventHandler<T> handler) {
    this.handler = handler;
    return self();
  }

  /**
   * Batch mode: the handler of many events in one transaction, instead of {@link
   * #handler(EventHandler)}: up to {@code consumer.batch.size} records of one partition per
   * transaction (in offset order in a consumer group, in no order in a share group). A failed batch
   * falls back to one record at a time.
   */
  public B batchHandler(BatchHandler<T> batchHandler) {
    this.batchHandler = batchHandler;
    return self();
  }

  /** Where the {@code idem.*} meters go; default a private {@link SimpleMeterRegistry}. */
  public B meterRegistry(MeterRegistry meterRegistry) {
    this.meterRegistry = meterRegistry;
    return self();
  }

  /**
   * Where the observations of record, batch and grouped transactions go (see docs/operations.md,
   * "Tracing"): register Micrometer Tracing's handlers on it, best through {@link
   * dev.idem.consumer.observation.tracing.IdemTracing#register}, to get one span per transaction
   * that continues the record's {@code traceparent}. Default {@link ObservationRegistry#NOOP}:
   * nothing is observed and nothing is spent on it.
   */
  public B observationRegistry(ObservationRegistry observationRegistry) {
    this.observationRegistry = Objects.requireNonNull(observationRegistry, "observationRegistry");
    return self();
  }

  /** The clock for timestamps; default UTC system clock. */
  public B clock(Clock clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
    return self();
  }

  /** Decides retry or give-up for handler failures; default retry. */
  public B failureClassifier(FailureClassifier classifier) {
    this.classifier = Objects.requireNonNull(classifier, "classifier");
    return self();
  }

  /**
   * Dedicated connections for session locks: the retention job's singleton lock, and in a consumer
   * group the guard of {@code kafka.group.instance.id} (static membership is refused without them).
   * Not needed when the data source is a HikariCP pool or idem opens its own pool from {@code
   * pg.*}: connections with the same settings are opened then.
   */
  public B lockConnections(ConnectionFactory connections) {
    this.lockConnections = Objects.requireNonNull(connections, "connections");
    return self();
  }

  /**
   * Whether {@code start()} applies idem's schema scripts (default true). Turn off when your own
   * migrations apply them (see {@code docs/schema.md}); {@code start()} then checks that the schema
   * is at the version this release needs and throws {@link SchemaVersionException} if not.
   */
  public B applySchema(boolean applySchema) {
    this.applySchema = applySchema;
    return self();
  }

  /**
   * Code that takes part in every transaction a handler runs in (see {@link TransactionHook}); for
   * framework integrations such as idem's Spring Boot starter. Default {@link
   * TransactionHook#NONE}.
   */
  public B transactionHook(TransactionHook hook) {
    this.transactionHook = Objects.requireNonNull(hook, "hook");
    return self();
  }

  B faultHook(FaultHook faults) {
    this.faults = faults;
    return self();
  }

  /**
   * Checks that everything required is present, and copies this builder's values into the consumer:
   * changing the builder afterwards does not change it.
   *
   * @throws IdemConfigException naming what is missing
   */
  public abstract IdemConsumer build();

  /** The parts of a consumer, with what only its kind sets. */
  ConsumerParts<T> parts(
      OrderingKey orderingKey,
      Executor executor,
      LockKeyFunction lockKeys,
      Function<Map<String, Object>, Consumer<byte[], byte[]>> clientFactory) {
    return new ConsumerParts<>(
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
        observationRegistry);
  }
}
