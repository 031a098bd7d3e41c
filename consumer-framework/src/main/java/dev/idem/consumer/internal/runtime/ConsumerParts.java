package dev.idem.consumer.internal.runtime;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.DeadLetterMode;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.EventIdExtractor;
import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.OrderingKey;
import dev.idem.consumer.PayloadDeserializer;
import dev.idem.consumer.TransactionHook;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.Consumer;

/**
 * Everything a consumer is built from, copied out of its builder by {@code build()}: a builder
 * changed afterwards does not change the consumer. Checked when created.
 *
 * @param <T> the payload type
 * @param config the validated configuration
 * @param payloads reads payloads
 * @param dataSource the pool transactions run on, or null to open one from {@code pg.*}
 * @param eventIds where the event id comes from
 * @param handler the per-record handler, or null in batch mode
 * @param batchHandler the batch handler, or null in per-record mode
 * @param meterRegistry where the meters go
 * @param clock for timestamps
 * @param classifier retry or give up on handler failures
 * @param orderingKey which records of a partition run one at a time
 * @param executor runs handlers, or null for a cached pool the consumer owns
 * @param lockConnections dedicated connections for session locks, or null to derive them
 * @param applySchema whether start applies idem's schema scripts
 * @param faults fault-injection points for tests ({@link FaultHook#NONE} otherwise)
 * @param lockKeys derives lock keys (replaced only in tests, to force collisions)
 * @param clientFactory opens the Kafka client from its properties
 * @param ownedPoolSettings the settings of the pool opened from {@code pg.*} when {@code
 *     dataSource} is null
 * @param transactionHook takes part in every handler's transaction
 * @param observationRegistry where the record and batch observations go ({@link
 *     ObservationRegistry#NOOP}: none)
 */
public record ConsumerParts<T>(
    IdemConfig config,
    PayloadDeserializer<T> payloads,
    DataSource dataSource,
    EventIdExtractor eventIds,
    EventHandler<T> handler,
    BatchHandler<T> batchHandler,
    MeterRegistry meterRegistry,
    Clock clock,
    FailureClassifier classifier,
    OrderingKey orderingKey,
    Executor executor,
    ConnectionFactory lockConnections,
    boolean applySchema,
    FaultHook faults,
    LockKeyFunction lockKeys,
    Function<Map<String, Object>, Consumer<byte[], byte[]>> clientFactory,
    Supplier<HikariConfig> ownedPoolSettings,
    TransactionHook transactionHook,
    ObservationRegistry observationRegistry) {

  /**
   * Checks that everything required is present and fits together.
   *
   * @throws IdemConfigException naming what is missing or wrong, and the fix
   */
  public ConsumerParts {
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
    if (config.transactionMaxRecords() > 1 && batchHandler != null) {
      throw new IdemConfigException(
          "consumer.transaction.max-records",
          "groups records for a per-record handler; a batch handler gets many records in one"
              + " transaction already (consumer.batch.size): remove"
              + " consumer.transaction.max-records or use .handler(...)");
    }
    if (config.transactionMaxRecords() > 1 && config.deadLetterMode() == DeadLetterMode.PARK_KEY) {
      throw new IdemConfigException(
          "consumer.transaction.max-records",
          "is not available with consumer.dead-letter.on-failure=park-key (a grouped transaction"
              + " holds many keys, and parking is decided one record at a time): set"
              + " consumer.transaction.max-records=1, or use skip");
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
  }

  /** How the consumer applies its records: one per transaction, grouped, or in batches. */
  public ProcessingMode mode() {
    return ProcessingMode.of(batchHandler != null, config);
  }
}
