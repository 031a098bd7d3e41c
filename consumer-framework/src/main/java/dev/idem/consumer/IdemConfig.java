package dev.idem.consumer;

import dev.idem.consumer.internal.config.ConfigFiles;
import dev.idem.consumer.internal.config.DeadLetterTopics;
import dev.idem.consumer.internal.config.KafkaClientProperties;
import dev.idem.consumer.internal.config.Kind;
import dev.idem.consumer.internal.config.Rules;
import dev.idem.consumer.internal.config.Setting;
import dev.idem.consumer.internal.config.Settings;
import dev.idem.consumer.internal.config.Values;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

// Over 400 lines because this file is public API only: a record of 32 documented components and a
// builder of 25 documented typed setters, each one line of logic. The settings' definitions, their
// parsing and checks, the rules between them and the Kafka client properties live in
// dev.idem.consumer.internal.config.

/**
 * The validated, immutable settings of one idempotent consumer.
 *
 * <p>Build it in code with {@link #builder(String)}, or load it from a properties or YAML file with
 * {@link #load(Path)} (keys documented in {@code config/idem.properties}). {@link Builder#build()}
 * checks everything and throws {@link IdemConfigException} naming the key and the fix; nothing is
 * quietly replaced. The canonical constructor checks the same, so no instance holds a value that
 * the builder would refuse. Every {@code consumer.*} and {@code pg.*} key is defined once, in
 * {@link Settings}.
 *
 * @param consumerName the consumer's name: processed marks are kept per (consumer name, event id)
 * @param topics the topics to consume
 * @param kafka the Kafka consumer properties idem uses (with its own settings applied)
 * @param lockNamespace the namespace of advisory-lock keys (default: the consumer name)
 * @param schema the PostgreSQL schema of idem's tables
 * @param processedTable the table of processed event ids
 * @param deadLetterTable the table of dead letters
 * @param deadLetterTopic the dead-letter topic template ({@code {topic}} is replaced by the source
 *     topic), or null when dead letters go to the table only
 * @param lockTimeout how long a copy waits for the lock held by another copy of its event
 * @param handlerTimeout the longest a transaction may run a statement or stay idle
 * @param commitInterval how often done offsets are committed to Kafka
 * @param drainTimeout how long a revoke or close waits for in-flight records
 * @param pollTimeout the longest one {@code poll} blocks
 * @param concurrency how many records are processed at once
 * @param maxAbandonedWorkers how many worker threads abandoned by the watchdog (their transaction
 *     outlived lock-timeout + handler-timeout) may still be alive; past that a hung worker keeps
 *     its slot and the consumer reports itself unhealthy
 * @param maxInFlight the most records handed to workers and not yet done
 * @param maxInFlightBytes the most bytes (keys and values) of such records
 * @param maxInFlightPerPartition a partition holding this many records in flight is paused alone
 * @param maxUncommittedPerPartition a partition holding this many records above its committable
 *     offset (done or not, behind a record that is not done) is paused alone
 * @param retry the retry policy for failed records
 * @param batchSize batch mode: the most records of one partition in one batch
 * @param batchMaxLocks batch mode: the most advisory locks (distinct event ids) in one transaction
 * @param transactionMaxRecords per-record handlers: the most records of one partition applied in
 *     one transaction, each in a savepoint of its own (1: one transaction per record)
 * @param retentionWindow how long processed marks are kept, or null when retention is off
 * @param retentionInterval how often the retention job runs
 * @param retentionBatchSize marks deleted per retention transaction
 * @param retentionAllowShorterThanTopic whether a consumer with offsets in Kafka starts although a
 *     topic can deliver records for longer than the retention window (only a warning then)
 * @param retentionTopicCheckTimeout how long {@code start()} waits for the brokers to report the
 *     topics' retention settings before it starts unchecked and asks again in the background
 * @param offsetStore where the authoritative record of done offsets is kept
 * @param readRetryTimeout how long a record whose deserializer or event-id extractor fails with a
 *     retryable failure (by default: a network failure) is retried before it is dead-lettered
 * @param transactionStateCheck how a transaction left aborted or ended by its handler is detected
 * @param deadLetterMode whether a dead letter lets the later records of its key through or parks
 *     the key
 * @param database optional connection settings, when idem opens its own pool
 */
public record IdemConfig(
    String consumerName,
    List<String> topics,
    Map<String, Object> kafka,
    String lockNamespace,
    String schema,
    String processedTable,
    String deadLetterTable,
    String deadLetterTopic,
    Duration lockTimeout,
    Duration handlerTimeout,
    Duration commitInterval,
    Duration drainTimeout,
    Duration pollTimeout,
    int concurrency,
    int maxAbandonedWorkers,
    int maxInFlight,
    long maxInFlightBytes,
    int maxInFlightPerPartition,
    int maxUncommittedPerPartition,
    RetryPolicy retry,
    int batchSize,
    int batchMaxLocks,
    int transactionMaxRecords,
    Duration retentionWindow,
    Duration retentionInterval,
    int retentionBatchSize,
    boolean retentionAllowShorterThanTopic,
    Duration retentionTopicCheckTimeout,
    OffsetStore offsetStore,
    Duration readRetryTimeout,
    TransactionStateCheck transactionStateCheck,
    DeadLetterMode deadLetterMode,
    DatabaseSettings database) {

  /**
   * Checks every value as {@link Builder#build()} does, and completes the Kafka properties with the
   * settings idem owns.
   *
   * @throws IdemConfigException naming the first refused key and the fix
   */
  public IdemConfig {
    consumerName = Settings.NAME.check(consumerName);
    topics = List.copyOf(Settings.TOPICS.check(topics));
    if (kafka == null) {
      throw new IdemConfigException("kafka", "is null; give the Kafka consumer properties");
    }
    KafkaClientProperties.Consumer client = KafkaClientProperties.consumer(consumerName, kafka);
    kafka = client.properties();
    Settings.LOCK_NAMESPACE.check(lockNamespace);
    Settings.SCHEMA.check(schema);
    Settings.PROCESSED_TABLE.check(processedTable);
    Settings.DEAD_LETTER_TABLE.check(deadLetterTable);
    Rules.tablesDiffer(processedTable, deadLetterTable);
    Settings.DEAD_LETTER_TOPIC.check(deadLetterTopic);
    DeadLetterTopics.checkFor(deadLetterTopic, topics);
    Settings.LOCK_TIMEOUT.check(lockTimeout);
    Settings.HANDLER_TIMEOUT.check(handlerTimeout);
    Rules.timeouts(lockTimeout, handlerTimeout);
    Settings.COMMIT_INTERVAL.check(commitInterval);
    Settings.DRAIN_TIMEOUT.check(drainTimeout);
    Settings.POLL_TIMEOUT.check(pollTimeout);
    Settings.CONCURRENCY.check(concurrency);
    Settings.MAX_ABANDONED_WORKERS.check(maxAbandonedWorkers);
    if (retry == null) {
      throw new IdemConfigException("consumer.retry", "is null; give a RetryPolicy");
    }
    Settings.RETRY_MAX_ATTEMPTS.check(retry.maxAttempts());
    Settings.RETRY_INITIAL_BACKOFF.check(retry.initialBackoff());
    Settings.RETRY_MAX_BACKOFF.check(retry.maxBackoff());
    Rules.drainWithinPollInterval(drainTimeout, client.maxPollIntervalMs());
    Settings.MAX_IN_FLIGHT.check(maxInFlight);
    Settings.MAX_IN_FLIGHT_BYTES.check(maxInFlightBytes);
    Settings.MAX_IN_FLIGHT_PER_PARTITION.check(maxInFlightPerPartition);
    Rules.inFlight(maxInFlight, maxInFlightPerPartition, client.maxPollRecords());
    Settings.MAX_UNCOMMITTED_PER_PARTITION.check(maxUncommittedPerPartition);
    if (database != null) {
      Settings.PG_URL.check(database.url());
      Settings.PG_POOL_SIZE.check(database.poolSize());
      Rules.poolHoldsConcurrency(database.poolSize(), concurrency);
    }
    Settings.RETENTION_WINDOW.check(retentionWindow);
    Settings.RETENTION_INTERVAL.check(retentionInterval);
    Settings.RETENTION_BATCH_SIZE.check(retentionBatchSize);
    Settings.RETENTION_TOPIC_CHECK_TIMEOUT.check(retentionTopicCheckTimeout);
    Settings.BATCH_SIZE.check(batchSize);
    Settings.BATCH_MAX_LOCKS.check(batchMaxLocks);
    Settings.TRANSACTION_MAX_RECORDS.check(transactionMaxRecords);
    Rules.transactionMaxRecords(transactionMaxRecords);
    Settings.OFFSET_STORE.check(offsetStore);
    Settings.READ_RETRY_TIMEOUT.check(readRetryTimeout);
    Settings.TRANSACTION_STATE_CHECK.check(transactionStateCheck);
    Settings.DEAD_LETTER_MODE.check(deadLetterMode);
  }

  /** A builder for the consumer named {@code consumerName}. */
  public static Builder builder(String consumerName) {
    return new Builder(consumerName);
  }

  /**
   * Loads a builder from a {@code .properties}, {@code .yaml} or {@code .yml} file, with
   * environment overrides (see {@code config/idem.properties}). Add or change settings on the
   * builder, then {@link Builder#build()}.
   */
  public static Builder load(Path file) {
    return load(file, System.getenv());
  }

  /** Like {@link #load(Path)}, with the environment given explicitly. */
  public static Builder load(Path file, Map<String, String> environment) {
    return fromProperties(ConfigFiles.readFile(file), environment);
  }

  /**
   * A builder from {@code consumer.*}, {@code kafka.*} and {@code pg.*} settings (as read from a
   * file by an application that has settings of its own), with the environment overrides of {@link
   * #load(Path)} applied.
   *
   * @throws IdemConfigException for a key that is not idem's
   */
  public static Builder fromProperties(
      Map<String, String> properties, Map<String, String> environment) {
    List<String> overridable = Settings.ALL.stream().map(Setting::key).toList();
    Map<String, String> values = ConfigFiles.withOverrides(properties, environment, overridable);
    Builder builder = new Builder(values.get("consumer.name"));
    values.forEach(builder::set);
    return builder;
  }

  /** Every {@code consumer.*} and {@code pg.*} setting, in the order of the reference. */
  public static List<SettingInfo> settings() {
    return Settings.ALL.stream()
        .map(s -> new SettingInfo(s.key(), s.kind().text(), s.defaultText(), s.doc()))
        .toList();
  }

  /**
   * Reads a {@code .properties}, {@code .yaml} or {@code .yml} file into flat keys (nested YAML
   * keys joined with dots), without environment overrides.
   */
  public static Map<String, String> readFile(Path file) {
    return ConfigFiles.readFile(file);
  }

  /**
   * The effective settings as {@code key=value} lines for the start-up log, passwords and other
   * secrets masked.
   */
  public String describe() {
    Map<String, String> lines = Settings.describe(this);
    kafka.forEach((k, v) -> lines.put("kafka." + k, String.valueOf(Values.maskIfSecret(k, v))));
    StringBuilder sb = new StringBuilder();
    lines.forEach((k, v) -> sb.append("\n  ").append(k).append('=').append(v));
    return sb.toString();
  }

  /** The dead-letter topic for records of {@code sourceTopic}, or null when off. */
  public String deadLetterTopicFor(String sourceTopic) {
    return DeadLetterTopics.forSource(deadLetterTopic, sourceTopic);
  }

  /**
   * Producer properties derived from the consumer's Kafka properties: the connection and security
   * settings, for dead letters and replays.
   */
  public Map<String, Object> producerProperties() {
    return KafkaClientProperties.producer(consumerName, kafka);
  }

  /**
   * Connection settings for a pool idem opens itself (when no {@code DataSource} is given).
   *
   * @param url the JDBC URL; logged only through {@link JdbcUrls#mask(String)}
   * @param user the user
   * @param password the password; never logged
   * @param poolSize the pool's maximum size
   */
  public record DatabaseSettings(String url, String user, String password, int poolSize) {
    @Override
    public String toString() {
      return "DatabaseSettings[url="
          + JdbcUrls.mask(url)
          + ", user="
          + user
          + ", poolSize="
          + poolSize
          + "]";
    }
  }

  /** Collects settings; {@link #build()} validates them all. */
  public static final class Builder {
    private final String consumerName;
    private final List<String> topics = new ArrayList<>();
    private final Map<String, String> kafka = new LinkedHashMap<>();
    // By key: a Raw text from a file or set(), or a typed value from a typed setter.
    private final Map<String, Object> values = new LinkedHashMap<>();

    private record Raw(String text) {}

    private Builder(String consumerName) {
      this.consumerName = consumerName;
    }

    /** The topics to consume (replaces earlier ones). */
    public Builder topics(String... topics) {
      this.topics.clear();
      this.topics.addAll(List.of(topics));
      return this;
    }

    /**
     * A Kafka consumer property, e.g. {@code kafka("bootstrap.servers", "localhost:9092")}.
     *
     * @throws IdemConfigException when the value is null
     */
    public Builder kafka(String key, Object value) {
      Objects.requireNonNull(key, "key");
      if (value == null) {
        throw new IdemConfigException("kafka." + key, Kind.NO_VALUE);
      }
      kafka.put(key, value.toString());
      return this;
    }

    /** Shorthand for {@code kafka("bootstrap.servers", servers)}. */
    public Builder bootstrapServers(String servers) {
      return kafka("bootstrap.servers", servers);
    }

    /** The advisory-lock namespace; default the consumer name. */
    public Builder lockNamespace(String namespace) {
      return set("consumer.lock-namespace", namespace);
    }

    /** The schema of idem's tables; default {@code idem}. */
    public Builder schema(String schema) {
      return set("consumer.schema", schema);
    }

    /** The lock wait bound; default 30 s. */
    public Builder lockTimeout(Duration timeout) {
      return put("consumer.lock-timeout", timeout);
    }

    /** The handler bound (statement and idle-in-transaction timeouts); default 60 s. */
    public Builder handlerTimeout(Duration timeout) {
      return put("consumer.handler-timeout", timeout);
    }

    /** How often offsets are committed; default 1 s. */
    public Builder commitInterval(Duration interval) {
      return put("consumer.commit-interval", interval);
    }

    /** How long revoke and close wait for in-flight work; default 10 s. */
    public Builder drainTimeout(Duration timeout) {
      return put("consumer.drain-timeout", timeout);
    }

    /** How many records run at once; default 1. */
    public Builder concurrency(int concurrency) {
      return put("consumer.concurrency", concurrency);
    }

    /**
     * How many worker threads abandoned by the watchdog may still be alive; default the
     * concurrency, 0 never abandons. A run whose transaction outlives lock-timeout +
     * handler-timeout + 1 s is abandoned (its thread interrupted, its connection aborted, the
     * record retried on a new thread) while fewer are alive; past that it keeps its slot and {@code
     * health()} reports the consumer unhealthy.
     */
    public Builder maxAbandonedWorkers(int workers) {
      return put("consumer.max-abandoned-workers", workers);
    }

    /** The most records in flight (handed to workers, not done); default 2000. */
    public Builder maxInFlight(int records) {
      return put("consumer.max-in-flight", records);
    }

    /**
     * A partition holding this many records in flight is paused alone, while the others keep
     * flowing (a retrying key with records of it queued behind); default 500, or max-in-flight when
     * that is lower.
     */
    public Builder maxInFlightPerPartition(int records) {
      return put("consumer.max-in-flight-per-partition", records);
    }

    /**
     * A partition holding this many records above its committable offset (finished or not, behind a
     * record that is not finished) is paused alone; default 10,000. Bounds the offset tracker's
     * memory, the done rows kept in PostgreSQL ({@code consumer.offset-store=postgresql}) and what
     * is redelivered after a crash.
     */
    public Builder maxUncommittedPerPartition(int records) {
      return put("consumer.max-uncommitted-per-partition", records);
    }

    /** The most bytes of records in flight; default 64 MiB. */
    public Builder maxInFlightBytes(long bytes) {
      return put("consumer.max-in-flight-bytes", bytes);
    }

    /**
     * Also publish dead letters to a topic: {@code "on"} for {@code <topic>.DLT}, or a template
     * with {@code {topic}}; default off (the {@code dead_letters} table only).
     */
    public Builder deadLetterTopic(String template) {
      return set("consumer.dead-letter-topic", template);
    }

    /**
     * How long processed marks are kept (default 15 days, which covers Kafka's default topic
     * retention: see {@code config/idem.properties}); {@code null} turns retention off. It must
     * cover how long the topics can deliver a record ({@code retention.ms + segment.ms}, forever
     * when compacted) plus the providers' retry window, or a replay re-applies events.
     */
    public Builder retentionWindow(Duration window) {
      return put("consumer.retention.window", window);
    }

    /**
     * Whether a consumer with offsets in Kafka starts although a topic can deliver records for
     * longer than {@link #retentionWindow(Duration) the window} (default false: {@code start()}
     * refuses, naming the topic). With true it starts with a warning; a replay of records older
     * than the window then applies them again.
     */
    public Builder retentionAllowShorterThanTopic(boolean allow) {
      return put("consumer.retention.allow-shorter-than-topic", allow);
    }

    /**
     * How long {@code start()} waits for the brokers to report the topics' retention settings
     * (default 10 s, at most 10 min). Without an answer in time the consumer starts and asks again
     * in the background; a refusal found then stops it.
     */
    public Builder retentionTopicCheckTimeout(Duration timeout) {
      return put("consumer.retention.topic-check-timeout", timeout);
    }

    /** Batch mode: the most records of one partition handed to one batch; default 500. */
    public Builder batchSize(int records) {
      return put("consumer.batch.size", records);
    }

    /**
     * Batch mode: the most advisory locks one transaction takes (default 1000); larger batches are
     * split. Every lock is an entry in the server's shared lock table (about {@code
     * max_locks_per_transaction x (max_connections + max_prepared_transactions)} entries, 6,400
     * with defaults), which every session of the server shares.
     */
    public Builder batchMaxLocks(int locks) {
      return put("consumer.batch.max-locks", locks);
    }

    /**
     * Per-record handlers: the most already-polled records of one partition applied in one
     * transaction (default 1: one transaction per record). Each record runs in a savepoint of its
     * own, so a failing record rolls back alone and is retried or dead-lettered by itself; the
     * later records of its ordering key wait for it. 32 is the recommendation; more than 64 is
     * refused (PostgreSQL caches 64 subtransactions per backend). Not with a batch handler, nor
     * with {@code consumer.dead-letter.on-failure=park-key}.
     */
    public Builder transactionMaxRecords(int records) {
      return put("consumer.transaction.max-records", records);
    }

    /**
     * Where done offsets are kept: {@link OffsetStore#KAFKA} (default) or {@link
     * OffsetStore#POSTGRESQL}, in the same transaction as each record's effects.
     */
    public Builder offsetStore(OffsetStore store) {
      return put("consumer.offset-store", Objects.requireNonNull(store, "store"));
    }

    /**
     * How long a record whose deserializer or event-id extractor fails with a retryable failure (by
     * default a network failure, such as a schema registry that is down) is retried before it is
     * dead-lettered; default 5 minutes. Later records of its ordering key wait meanwhile.
     */
    public Builder readRetryTimeout(Duration timeout) {
      return put("consumer.read-retry-timeout", timeout);
    }

    /**
     * What a dead letter means for the later records of its ordering key: {@link
     * DeadLetterMode#SKIP} (default) or {@link DeadLetterMode#PARK_KEY}.
     */
    public Builder deadLetterMode(DeadLetterMode mode) {
      return put("consumer.dead-letter.on-failure", Objects.requireNonNull(mode, "mode"));
    }

    /** How a transaction left aborted or ended by its handler is detected; default DRIVER. */
    public Builder transactionStateCheck(TransactionStateCheck check) {
      return put("consumer.transaction-state-check", Objects.requireNonNull(check, "check"));
    }

    /** The retry policy; default {@link RetryPolicy#defaults()}. */
    public Builder retry(RetryPolicy policy) {
      put("consumer.retry.max-attempts", policy.maxAttempts());
      put("consumer.retry.initial-backoff", policy.initialBackoff());
      put("consumer.retry.max-backoff", policy.maxBackoff());
      put("consumer.retry.multiplier", policy.multiplier());
      return put("consumer.retry.jitter", policy.jitter());
    }

    /** Connection settings for a pool idem opens itself. */
    public Builder database(String url, String user, String password, int poolSize) {
      set("pg.url", url);
      set("pg.user", user);
      set("pg.password", password);
      return put("pg.pool-size", poolSize);
    }

    /**
     * Sets any setting by its file key: {@code consumer.*}, {@code pg.*}, or {@code kafka.*} for
     * Kafka consumer properties.
     *
     * @throws IdemConfigException for an unknown key or a null value
     */
    public Builder set(String key, String value) {
      if (value == null && !key.equals("consumer.name")) {
        throw new IdemConfigException(key, Kind.NO_VALUE);
      }
      if (key.startsWith("kafka.")) {
        return kafka(key.substring("kafka.".length()), value);
      }
      if (key.equals("consumer.topics")) {
        return topics(Values.list(value).toArray(String[]::new));
      }
      if (Settings.byKey(key) == null) {
        throw new IdemConfigException(
            key, "unknown setting; the known ones are consumer.*, pg.* and kafka.* (see config/)");
      }
      // The name is the builder's own (from builder(name) or the file's consumer.name).
      if (!key.equals("consumer.name")) {
        values.put(key, new Raw(value));
      }
      return this;
    }

    /** A typed value; null only where it means something (retention off). */
    private Builder put(String key, Object value) {
      if (value == null && !Settings.byKey(key).kind().optional()) {
        throw new IdemConfigException(key, Kind.NO_VALUE);
      }
      values.put(key, value);
      return this;
    }

    /**
     * Validates every setting and returns the configuration.
     *
     * @throws IdemConfigException naming the first refused key and the fix
     */
    public IdemConfig build() {
      String name = Settings.NAME.check(consumerName == null ? null : consumerName.trim());
      Settings.TOPICS.check(topics);
      KafkaClientProperties.refuseDeserializers(kafka);
      value(Settings.TRANSACTION_ISOLATION, null); // no component: read only to refuse
      int concurrency = value(Settings.CONCURRENCY, null);
      int maxInFlight = value(Settings.MAX_IN_FLIGHT, null);
      // Two batches per partition by default: the next batch is polled and queued while one
      // commits, so a partition's lane does not wait for a poll after each commit.
      int perPartitionDefault =
          Math.min(Math.max(500, 2 * value(Settings.BATCH_SIZE, null)), maxInFlight);
      return new IdemConfig(
          name,
          topics,
          new LinkedHashMap<>(kafka),
          value(Settings.LOCK_NAMESPACE, name),
          value(Settings.SCHEMA, null),
          value(Settings.PROCESSED_TABLE, null),
          value(Settings.DEAD_LETTER_TABLE, null),
          value(Settings.DEAD_LETTER_TOPIC, null),
          value(Settings.LOCK_TIMEOUT, null),
          value(Settings.HANDLER_TIMEOUT, null),
          value(Settings.COMMIT_INTERVAL, null),
          value(Settings.DRAIN_TIMEOUT, null),
          value(Settings.POLL_TIMEOUT, null),
          concurrency,
          value(Settings.MAX_ABANDONED_WORKERS, concurrency),
          maxInFlight,
          value(Settings.MAX_IN_FLIGHT_BYTES, null),
          value(Settings.MAX_IN_FLIGHT_PER_PARTITION, perPartitionDefault),
          value(Settings.MAX_UNCOMMITTED_PER_PARTITION, null),
          retry(),
          value(Settings.BATCH_SIZE, null),
          value(Settings.BATCH_MAX_LOCKS, null),
          value(Settings.TRANSACTION_MAX_RECORDS, null),
          value(Settings.RETENTION_WINDOW, null),
          value(Settings.RETENTION_INTERVAL, null),
          value(Settings.RETENTION_BATCH_SIZE, null),
          value(Settings.RETENTION_ALLOW_SHORTER_THAN_TOPIC, null),
          value(Settings.RETENTION_TOPIC_CHECK_TIMEOUT, null),
          value(Settings.OFFSET_STORE, null),
          value(Settings.READ_RETRY_TIMEOUT, null),
          value(Settings.TRANSACTION_STATE_CHECK, null),
          value(Settings.DEAD_LETTER_MODE, null),
          database(concurrency));
    }

    private RetryPolicy retry() {
      return new RetryPolicy(
          value(Settings.RETRY_MAX_ATTEMPTS, null),
          value(Settings.RETRY_INITIAL_BACKOFF, null),
          value(Settings.RETRY_MAX_BACKOFF, null),
          value(Settings.RETRY_MULTIPLIER, null),
          value(Settings.RETRY_JITTER, null));
    }

    private DatabaseSettings database(int concurrency) {
      // A blank URL means "no pool of idem's own", whatever else pg.* says.
      if (!(values.get("pg.url") instanceof Raw url) || url.text().isBlank()) {
        return null;
      }
      return new DatabaseSettings(
          value(Settings.PG_URL, null),
          value(Settings.PG_USER, null),
          value(Settings.PG_PASSWORD, null),
          value(Settings.PG_POOL_SIZE, concurrency + 2));
    }

    /**
     * The value set for {@code setting} (text read and checked, typed values as given: the
     * constructor checks them), else {@code derived}, else the setting's default.
     */
    @SuppressWarnings("unchecked")
    private <T> T value(Setting<T> setting, T derived) {
      if (!values.containsKey(setting.key())) {
        return derived != null ? derived : setting.defaultValue();
      }
      Object value = values.get(setting.key());
      return value instanceof Raw raw ? setting.parse(raw.text()) : (T) value;
    }
  }

  /** The {@code consumer.*} and {@code pg.*} keys a file or {@link Builder#set} may name. */
  static final class Keys {
    static final List<String> KNOWN =
        Settings.ALL.stream()
            .map(Setting::key)
            .filter(k -> !k.equals("consumer.name") && !k.equals("consumer.topics"))
            .toList();

    private Keys() {}
  }
}
