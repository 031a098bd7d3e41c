package dev.idem.consumer.internal.runtime;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.metrics.micrometer.MicrometerMetricsTrackerFactory;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.TransactionStateCheck;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.deadletter.KafkaDeadLetterPublisher;
import dev.idem.consumer.internal.dispatch.ConnectionAborter;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.health.ServerCheck;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.internal.schema.SchemaVersionCheck;
import dev.idem.consumer.internal.store.PostgresIdempotencyStore;
import dev.idem.consumer.internal.store.TransactionSettings;
import dev.idem.consumer.internal.tx.TransactionRunner;
import dev.idem.consumer.internal.tx.TxEnvironment;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.ConnectionFactory;
import javax.sql.DataSource;

/**
 * The parts of the processing pipeline that the consumer-group and the share-group runtimes build
 * the same way: the schema and server checks, the transaction template, the watchdog, the dead
 * letters, and the environment every processing transaction shares.
 */
public final class Pipeline {
  private Pipeline() {}

  /**
   * What the database checks at start found.
   *
   * @param transactions the transaction template, with the configured state check
   * @param serverVersion the server's major version
   */
  public record Database(Transactions transactions, int serverVersion) {}

  /**
   * Applies idem's schema (or checks its version when the application applies it), then checks the
   * server.
   */
  public static Database prepare(ConsumerParts<?> parts, DataSource dataSource) {
    IdemConfig config = parts.config();
    if (parts.applySchema()) {
      ConsumerSchemas.of(config).forEach(set -> set.migrate(dataSource));
    } else {
      SchemaVersionCheck.require(dataSource, config);
    }
    Transactions transactions =
        Transactions.checking(
            config.transactionStateCheck() == TransactionStateCheck.DRIVER
                ? Transactions.StateCheck.DRIVER
                : Transactions.StateCheck.QUERY);
    return new Database(
        transactions, ServerCheck.run(config.consumerName(), dataSource, transactions));
  }

  /** The watchdog of hung attempts, its gauge registered. */
  public static Watchdog watchdog(
      IdemConfig config, DataSource dataSource, ConsumerMetrics metrics) {
    Watchdog watchdog =
        new Watchdog(
            config.consumerName(),
            config.lockTimeout(),
            config.handlerTimeout(),
            config.maxAbandonedWorkers(),
            ConnectionAborter.forPool(dataSource),
            metrics);
    metrics.registerStuckWorkers(watchdog::stuckWorkers);
    return watchdog;
  }

  /**
   * Where dead letters are published besides the table: the topic, when one is configured. The
   * producer's client metrics go to the consumer's meter registry ({@code kafka.producer.*}), its
   * sends to the observation registry.
   */
  public static DeadLetterPublisher deadLetters(ConsumerParts<?> parts) {
    IdemConfig config = parts.config();
    return config.deadLetterTopic() == null
        ? DeadLetterPublisher.NONE
        : new KafkaDeadLetterPublisher(config, parts.meterRegistry(), parts.observationRegistry());
  }

  /**
   * The pool idem opens from {@code pg.*}, reporting Hikari's own meters ({@code hikaricp.*},
   * tagged with the pool's name) to the consumer's registry.
   */
  public static HikariDataSource ownedPool(ConsumerParts<?> parts) {
    HikariConfig settings = parts.ownedPoolSettings().get();
    if (settings.getMetricsTrackerFactory() == null && settings.getMetricRegistry() == null) {
      settings.setMetricsTrackerFactory(new MicrometerMetricsTrackerFactory(parts.meterRegistry()));
    }
    return new HikariDataSource(settings);
  }

  /**
   * Warns, once at start, when the user's pool is known to wait forever for a database reply (no
   * pgjdbc {@code socketTimeout}); idem's own pool has one.
   */
  public static void checkSocketTimeout(ConsumerParts<?> parts) {
    if (parts.dataSource() != null) {
      SocketTimeoutCheck.warnIfMissing(parts.config().consumerName(), parts.dataSource());
    }
  }

  /** What every processing transaction of the consumer shares. */
  public static TxEnvironment environment(
      ConsumerParts<?> parts,
      DataSource dataSource,
      Database database,
      ConsumerMetrics metrics,
      Watchdog watchdog) {
    IdemConfig config = parts.config();
    String name = config.consumerName();
    PostgresIdempotencyStore store =
        new PostgresIdempotencyStore(
            name,
            config.schema(),
            config.processedTable(),
            config.deadLetterTable(),
            new TransactionSettings(
                config.lockTimeout(), config.handlerTimeout(), database.serverVersion()),
            config.offsetStore());
    return new TxEnvironment(
        name,
        config.lockNamespace(),
        TransactionRunner.jdbc(dataSource, database.transactions()),
        store,
        parts.lockKeys(),
        metrics,
        parts.faults(),
        watchdog,
        parts.transactionHook(),
        new Observations(parts.observationRegistry(), name));
  }

  /**
   * Dedicated connections for session locks (the retention job's singleton lock, the static
   * membership guard): the builder's, else opened like the HikariCP pool's own, else none.
   *
   * @param ownedPool the pool idem opened from {@code pg.*}, or null
   */
  public static ConnectionFactory dedicatedConnections(
      ConsumerParts<?> parts, HikariDataSource ownedPool) {
    if (parts.lockConnections() != null) {
      return parts.lockConnections();
    }
    if (parts.dataSource() instanceof HikariDataSource hikari) {
      return ConnectionFactory.sameServerAs(hikari);
    }
    return ownedPool == null ? null : ConnectionFactory.sameServerAs(ownedPool);
  }

  /**
   * The handler of single records: the per-record handler, or in batch mode the batch handler with
   * batches of one (after a failed batch, and for records retried alone).
   */
  public static <T> EventHandler<T> recordHandler(ConsumerParts<T> parts) {
    return parts.mode() == ProcessingMode.BATCH
        ? BatchOfOne.of(parts.batchHandler())
        : parts.handler();
  }
}
