package dev.idem.consumer;

import dev.idem.consumer.internal.health.PollStall;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.lifecycle.RuntimeSignals;
import dev.idem.consumer.internal.metrics.HealthGauges;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import dev.idem.consumer.internal.share.ShareRuntime;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import java.util.function.Function;
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
public final class IdempotentShareConsumer<T> implements IdemConsumer {
  private final ConsumerParts<T> parts;
  private final ConsumerStatus status;
  private final Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients;

  /** Serializes start() and close(): a close() during a start() waits for it, then stops it. */
  private final Object lifecycle = new Object();

  private HealthGauges healthGauges;
  private volatile ShareRuntime<T> runtime;

  private IdempotentShareConsumer(
      ConsumerParts<T> parts,
      Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients) {
    this.parts = parts;
    this.status = new ConsumerStatus(parts.clock().instant());
    this.clients = clients;
  }

  /** A builder for a share consumer with {@code config}, reading payloads with {@code payloads}. */
  public static <T> Builder<T> builder(IdemConfig config, PayloadDeserializer<T> payloads) {
    return new Builder<>(config, payloads);
  }

  @Override
  public String name() {
    return parts.config().consumerName();
  }

  @Override
  public IdemConfig config() {
    return parts.config();
  }

  /** The share group's id: {@code kafka.group.id}, by default the consumer's name. */
  public String groupId() {
    return ShareRuntime.groupId(parts.config());
  }

  @Override
  public MeterRegistry meterRegistry() {
    return parts.meterRegistry();
  }

  /**
   * The latest snapshot published by the poll thread: its state is always the consumer's current
   * one; a share consumer has no partitions, pauses or offsets to show.
   */
  @Override
  public ConsumerSnapshot snapshot() {
    return status.snapshot();
  }

  /**
   * The consumer's health as in the consumer-group mode; a share consumer has no assigned
   * partitions to show, and its poll thread may stay silent one acquisition lock longer.
   */
  @Override
  public ConsumerHealth health() {
    ShareRuntime<T> r = runtime;
    return status.health(
        name(),
        r == null ? RuntimeSignals.NOT_STARTED : r,
        config().maxAbandonedWorkers(),
        r == null ? PollStall.timeout(config()) : r.pollStallTimeout());
  }

  /**
   * Applies the schema (unless disabled), checks the server, sets the share group's isolation level
   * to read_committed and its offset reset to earliest (unless the group set its own), reads its
   * delivery-count limit and lock duration, and starts polling. A consumer starts once.
   *
   * @throws IdemConfigException when the group is set to read_uncommitted
   * @throws IllegalStateException when called a second time
   */
  @Override
  public void start() {
    synchronized (lifecycle) {
      status.starting(name());
      try {
        runtime = ShareRuntime.start(parts, status, clients);
        healthGauges = HealthGauges.register(parts.meterRegistry(), name(), this::health);
      } catch (RuntimeException | Error e) {
        status.failed();
        throw e;
      }
    }
  }

  /**
   * Finishes the records in work (up to the drain timeout), acknowledges them, leaves the group and
   * releases what idem opened. Ends in state {@code CLOSED}, also after a failure. Idempotent.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      if (!status.closing()) {
        return;
      }
      ShareRuntime<T> r = runtime;
      if (r != null) {
        r.close();
      }
      if (healthGauges != null) {
        healthGauges.close();
      }
      status.closed();
    }
  }

  /** Acknowledgements the broker refused (mostly locks that expired), for tests. */
  double acknowledgementsFailed() {
    ShareRuntime<T> r = runtime;
    return r == null ? 0 : r.acknowledgementsFailed();
  }

  /**
   * Assembles a share consumer: what {@link ConsumerBuilder} takes; a share group has no ordering
   * key, executor or offset store of its own to set.
   *
   * @param <T> the payload type
   */
  public static final class Builder<T> extends ConsumerBuilder<T, Builder<T>> {
    private Function<Map<String, Object>, ShareConsumer<byte[], byte[]>> clients =
        KafkaShareConsumer::new;

    private Builder(IdemConfig config, PayloadDeserializer<T> payloads) {
      super(config, payloads);
    }

    @Override
    Builder<T> self() {
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
    @Override
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
          parts(OrderingKeys.none(), null, LockKeyFunction.V1, KafkaConsumer::new), clients);
    }
  }
}
