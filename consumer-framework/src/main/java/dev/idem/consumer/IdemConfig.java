package dev.idem.consumer;

import dev.idem.consumer.internal.config.ConfigFiles;
import dev.idem.consumer.internal.config.DeadLetterTopics;
import dev.idem.consumer.internal.config.KafkaClientProperties;
import dev.idem.consumer.internal.config.Kind;
import dev.idem.consumer.internal.config.RawValue;
import dev.idem.consumer.internal.config.Setting;
import dev.idem.consumer.internal.config.Settings;
import dev.idem.consumer.internal.config.Validation;
import dev.idem.consumer.internal.config.Values;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

// Over 400 lines because this file is public API only: an accessor and a typed setter for each of
// 33 settings, each documented, each one line of logic. The settings' definitions, their parsing
// and checks, the rules between them and the Kafka client properties live in
// dev.idem.consumer.internal.config.

/**
 * The validated, immutable settings of one idempotent consumer.
 *
 * <p>Build it in code with {@link #builder(String)}, or load it from a properties or YAML file with
 * {@link #load(Path)} (keys documented in {@code config/idem.properties}). {@link Builder#build()}
 * checks everything and throws one {@link IdemConfigException} that names every refused key and its
 * fix; nothing is quietly replaced. Every {@code consumer.*} and {@code pg.*} key is defined once,
 * in the settings table of {@code dev.idem.consumer.internal.config}; this class reads the
 * validated values by accessors. {@link #toBuilder()} starts a changed copy.
 */
public final class IdemConfig {
  // Every consumer.* and pg.* setting's value by key (null where a setting is off or absent).
  private final Map<String, Object> values;
  private final Map<String, Object> kafka;
  private final RetryPolicy retry;
  private final DatabaseSettings database;
  // The builder's own entries, for toBuilder(): what was set, not what was derived.
  private final Builder source;

  private IdemConfig(
      Map<String, Object> values,
      Map<String, Object> kafka,
      RetryPolicy retry,
      DatabaseSettings database,
      Builder source) {
    this.values = values;
    this.kafka = kafka;
    this.retry = retry;
    this.database = database;
    this.source = source;
  }

  @SuppressWarnings("unchecked")
  private <T> T get(Setting<T> setting) {
    return (T) values.get(setting.key());
  }

  /** The consumer's name: processed marks are kept per (consumer name, event id). */
  public String consumerName() {
    return get(Settings.NAME);
  }

  /** The topics to consume. */
  public List<String> topics() {
    return get(Settings.TOPICS);
  }

  /** The Kafka consumer properties idem uses (with its own settings applied). */
  public Map<String, Object> kafka() {
    return kafka;
  }

  /** The namespace of advisory-lock keys (default: the consumer name). */
  public String lockNamespace() {
    return get(Settings.LOCK_NAMESPACE);
  }

  /** The PostgreSQL schema of idem's tables. */
  public String schema() {
    return get(Settings.SCHEMA);
  }

  /** The table of processed event ids. */
  public String processedTable() {
    return get(Settings.PROCESSED_TABLE);
  }

  /** The table of dead letters. */
  public String deadLetterTable() {
    return get(Settings.DEAD_LETTER_TABLE);
  }

  /**
   * The dead-letter topic template ({@code {topic}} is replaced by the source topic), or null when
   * dead letters go to the table only.
   */
  public String deadLetterTopic() {
    return get(Settings.DEAD_LETTER_TOPIC);
  }

  /** How long a copy waits for the lock held by another copy of its event. */
  public Duration lockTimeout() {
    return get(Settings.LOCK_TIMEOUT);
  }

  /** The longest a transaction may run a statement or stay idle. */
  public Duration handlerTimeout() {
    return get(Settings.HANDLER_TIMEOUT);
  }

  /** How often done offsets are committed to Kafka. */
  public Duration commitInterval() {
    return get(Settings.COMMIT_INTERVAL);
  }

  /** How long a revoke or close waits for in-flight records. */
  public Duration drainTimeout() {
    return get(Settings.DRAIN_TIMEOUT);
  }

  /** The longest one {@code poll} blocks. */
  public Duration pollTimeout() {
    return get(Settings.POLL_TIMEOUT);
  }

  /** How many records are processed at once. */
  public int concurrency() {
    return get(Settings.CONCURRENCY);
  }

  /**
   * How many worker threads abandoned by the watchdog (their transaction outlived lock-timeout +
   * handler-timeout) may still be alive; past that a hung worker keeps its slot and the consumer
   * reports itself unhealthy.
   */
  public int maxAbandonedWorkers() {
    return get(Settings.MAX_ABANDONED_WORKERS);
  }

  /** The most records handed to workers and not yet done. */
  public int maxInFlight() {
    return get(Settings.MAX_IN_FLIGHT);
  }

  /** The most bytes (keys and values) of records in flight. */
  public long maxInFlightBytes() {
    return get(Settings.MAX_IN_FLIGHT_BYTES);
  }

  /** A partition holding this many records in flight is paused alone. */
  public int maxInFlightPerPartition() {
    return get(Settings.MAX_IN_FLIGHT_PER_PARTITION);
  }

  /**
   * A partition holding this many records above its committable offset (done or not, behind a
   * record that is not done) is paused alone.
   */
  public int maxUncommittedPerPartition() {
    return get(Settings.MAX_UNCOMMITTED_PER_PARTITION);
  }

  /** The retry policy for failed records. */
  public RetryPolicy retry() {
    return retry;
  }

  /** Batch mode: the most records of one partition in one batch. */
  public int batchSize() {
    return get(Settings.BATCH_SIZE);
  }

  /** Batch mode: the most advisory locks (distinct event ids) in one transaction. */
  public int batchMaxLocks() {
    return get(Settings.BATCH_MAX_LOCKS);
  }

  /**
   * Per-record handlers: the most records of one partition applied in one transaction, each in a
   * savepoint of its own (1: one transaction per record).
   */
  public int transactionMaxRecords() {
    return get(Settings.TRANSACTION_MAX_RECORDS);
  }

  /** How long processed marks are kept, or null when retention is off. */
  public Duration retentionWindow() {
    return get(Settings.RETENTION_WINDOW);
  }

  /** How often the retention job runs. */
  public Duration retentionInterval() {
    return get(Settings.RETENTION_INTERVAL);
  }

  /** Marks deleted per retention transaction. */
  public int retentionBatchSize() {
    return get(Settings.RETENTION_BATCH_SIZE);
  }

  /**
   * Whether a consumer with offsets in Kafka starts although a topic can deliver records for longer
   * than the retention window (only a warning then).
   */
  public boolean retentionAllowShorterThanTopic() {
    return get(Settings.RETENTION_ALLOW_SHORTER_THAN_TOPIC);
  }

  /**
   * How long {@code start()} waits for the brokers to report the topics' retention settings before
   * it starts unchecked and asks again in the background.
   */
  public Duration retentionTopicCheckTimeout() {
    return get(Settings.RETENTION_TOPIC_CHECK_TIMEOUT);
  }

  /** Where the authoritative record of done offsets is kept. */
  public OffsetStore offsetStore() {
    return get(Settings.OFFSET_STORE);
  }

  /**
   * How long a record whose deserializer or event-id extractor fails with a retryable failure (by
   * default: a network failure) is retried before it is dead-lettered.
   */
  public Duration readRetryTimeout() {
    return get(Settings.READ_RETRY_TIMEOUT);
  }

  /** How a transaction left aborted or ended by its handler is detected. */
  public TransactionStateCheck transactionStateCheck() {
    return get(Settings.TRANSACTION_STATE_CHECK);
  }

  /** Whether a dead letter lets the later records of its key through or parks the key. */
  public DeadLetterMode deadLetterMode() {
    return get(Settings.DEAD_LETTER_MODE);
  }

  /** The connection settings of the pool idem opens itself, or null when it is given one. */
  public DatabaseSettings database() {
    return database;
  }

  /**
   * A builder holding what built this configuration (the values set, not the defaults derived from
   * them), to change some and build a new one.
   */
  public Builder toBuilder() {
    return source.copy();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof IdemConfig other
        && values.equals(other.values)
        && kafka.equals(other.kafka);
  }

  @Override
  public int hashCode() {
    return Objects.hash(values, kafka);
  }

  /** The effective settings, secrets masked, as {@link #describe()} gives them. */
  @Override
  public String toString() {
    return "IdemConfig[" + describe().strip().replace("\n  ", ", ") + "]";
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
    Map<String, String> lines = Settings.describe(values);
    kafka.forEach((k, v) -> lines.put("kafka." + k, String.valueOf(Values.maskIfSecret(k, v))));
    StringBuilder sb = new StringBuilder();
    lines.forEach((k, v) -> sb.append("\n  ").append(k).append('=').append(v));
    return sb.toString();
  }

  /** The dead-letter topic for records of {@code sourceTopic}, or null when off. */
  public String deadLetterTopicFor(String sourceTopic) {
    return DeadLetterTopics.forSource(deadLetterTopic(), sourceTopic);
  }

  /**
   * Producer properties derived from the consumer's Kafka properties: the connection and security
   * settings, for dead letters and replays.
   */
  public Map<String, Object> producerProperties() {
    return KafkaClientProperties.producer(consumerName(), kafka);
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
    // By key: a RawValue (text from a file or set()), or a typed value from a typed setter.
    private final Map<String, Object> values = new LinkedHashMap<>();

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
      return put(Settings.LOCK_TIMEOUT, timeout);
    }

    /** The handler bound (statement and idle-in-transaction timeouts); default 60 s. */
    public Builder handlerTimeout(Duration timeout) {
      return put(Settings.HANDLER_TIMEOUT, timeout);
    }

    /** How often offsets are committed; default 1 s. */
    public Builder commitInterval(Duration interval) {
      return put(Settings.COMMIT_INTERVAL, interval);
    }

    /** How long revoke and close wait for in-flight work; default 10 s. */
    public Builder drainTimeout(Duration timeout) {
      return put(Settings.DRAIN_TIMEOUT, timeout);
    }

    /** How many records run at once; default 1. */
    public Builder concurrency(int concurrency) {
      return put(Settings.CONCURRENCY, concurrency);
    }

    /**
     * How many worker threads abandoned by the watchdog may still be alive; default the
     * concurrency, 0 never abandons. A run whose transaction outlives lock-timeout +
     * handler-timeout + 1 s is abandoned (its thread interrupted, its connection aborted, the
     * record retried on a new thread) while fewer are alive; past that it keeps its slot and {@code
     * health()} reports the consumer unhealthy.
     */
    public Builder maxAbandonedWorkers(int workers) {
      return put(Settings.MAX_ABANDONED_WORKERS, workers);
    }

    /** The most records in flight (handed to workers, not done); default 2000. */
    public Builder maxInFlight(int records) {
      return put(Settings.MAX_IN_FLIGHT, records);
    }

    /**
     * A partition holding this many records in flight is paused alone, while the others keep
     * flowing (a retrying key with records of it queued behind); default 500, or max-in-flight when
     * that is lower.
     */
    public Builder maxInFlightPerPartition(int records) {
      return put(Settings.MAX_IN_FLIGHT_PER_PARTITION, records);
    }

    /**
     * A partition holding this many records above its committable offset (finished or not, behind a
     * record that is not finished) is paused alone; default 10,000. Bounds the offset tracker's
     * memory, the done rows kept in PostgreSQL ({@code consumer.offset-store=postgresql}) and what
     * is redelivered after a crash.
     */
    public Builder maxUncommittedPerPartition(int records) {
      return put(Settings.MAX_UNCOMMITTED_PER_PARTITION, records);
    }

    /** The most bytes of records in flight; default 64 MiB. */
    public Builder maxInFlightBytes(long bytes) {
      return put(Settings.MAX_IN_FLIGHT_BYTES, bytes);
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
      return put(Settings.RETENTION_WINDOW, window);
    }

    /**
     * Whether a consumer with offsets in Kafka starts although a topic can deliver records for
     * longer than {@link #retentionWindow(Duration) the window} (default false: {@code start()}
     * refuses, naming the topic). With true it starts with a warning; a replay of records older
     * than the window then applies them again.
     */
    public Builder retentionAllowShorterThanTopic(boolean allow) {
      return put(Settings.RETENTION_ALLOW_SHORTER_THAN_TOPIC, allow);
    }

    /**
     * How long {@code start()} waits for the brokers to report the topics' retention settings
     * (default 10 s, at most 10 min). Without an answer in time the consumer starts and asks again
     * in the background; a refusal found then stops it.
     */
    public Builder retentionTopicCheckTimeout(Duration timeout) {
      return put(Settings.RETENTION_TOPIC_CHECK_TIMEOUT, timeout);
    }

    /** Batch mode: the most records of one partition handed to one batch; default 500. */
    public Builder batchSize(int records) {
      return put(Settings.BATCH_SIZE, records);
    }

    /**
     * Batch mode: the most advisory locks one transaction takes (default 1000); larger batches are
     * split. Every lock is an entry in the server's shared lock table (about {@code
     * max_locks_per_transaction x (max_connections + max_prepared_transactions)} entries, 6,400
     * with defaults), which every session of the server shares.
     */
    public Builder batchMaxLocks(int locks) {
      return put(Settings.BATCH_MAX_LOCKS, locks);
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
      return put(Settings.TRANSACTION_MAX_RECORDS, records);
    }

    /**
     * Where done offsets are kept: {@link OffsetStore#KAFKA} (default) or {@link
     * OffsetStore#POSTGRESQL}, in the same transaction as each record's effects.
     */
    public Builder offsetStore(OffsetStore store) {
      return put(Settings.OFFSET_STORE, Objects.requireNonNull(store, "store"));
    }

    /**
     * How long a record whose deserializer or event-id extractor fails with a retryable failure (by
     * default a network failure, such as a schema registry that is down) is retried before it is
     * dead-lettered; default 5 minutes. Later records of its ordering key wait meanwhile.
     */
    public Builder readRetryTimeout(Duration timeout) {
      return put(Settings.READ_RETRY_TIMEOUT, timeout);
    }

    /**
     * What a dead letter means for the later records of its ordering key: {@link
     * DeadLetterMode#SKIP} (default) or {@link DeadLetterMode#PARK_KEY}.
     */
    public Builder deadLetterMode(DeadLetterMode mode) {
      return put(Settings.DEAD_LETTER_MODE, Objects.requireNonNull(mode, "mode"));
    }

    /** How a transaction left aborted or ended by its handler is detected; default DRIVER. */
    public Builder transactionStateCheck(TransactionStateCheck check) {
      return put(Settings.TRANSACTION_STATE_CHECK, Objects.requireNonNull(check, "check"));
    }

    /** The retry policy; default {@link RetryPolicy#defaults()}. */
    public Builder retry(RetryPolicy policy) {
      put(Settings.RETRY_MAX_ATTEMPTS, policy.maxAttempts());
      put(Settings.RETRY_INITIAL_BACKOFF, policy.initialBackoff());
      put(Settings.RETRY_MAX_BACKOFF, policy.maxBackoff());
      put(Settings.RETRY_MULTIPLIER, policy.multiplier());
      return put(Settings.RETRY_JITTER, policy.jitter());
    }

    /** Connection settings for a pool idem opens itself. */
    public Builder database(String url, String user, String password, int poolSize) {
      set("pg.url", url);
      set("pg.user", user);
      set("pg.password", password);
      return put(Settings.PG_POOL_SIZE, poolSize);
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
        values.put(key, new RawValue(value));
      }
      return this;
    }

    /** A typed value; null only where it means something (retention off). */
    private <T> Builder put(Setting<T> setting, T value) {
      if (value == null && !setting.kind().optional()) {
        throw new IdemConfigException(setting.key(), Kind.NO_VALUE);
      }
      values.put(setting.key(), value);
      return this;
    }

    /** A builder with this one's entries, changed independently of it. */
    private Builder copy() {
      Builder copy = new Builder(consumerName);
      copy.topics.addAll(topics);
      copy.kafka.putAll(kafka);
      copy.values.putAll(values);
      return copy;
    }

    /**
     * Validates every setting and returns the configuration.
     *
     * @throws IdemConfigException naming every refused key and its fix ({@link
     *     IdemConfigException#key()} is the first of them, in the order of {@code
     *     config/idem.properties})
     */
    public IdemConfig build() {
      Map<String, Object> entries = new LinkedHashMap<>(values);
      entries.put(Settings.NAME.key(), consumerName == null ? null : new RawValue(consumerName));
      entries.put(Settings.TOPICS.key(), List.copyOf(topics));
      boolean ownPool = databaseConfigured();
      Validation.Result valid = Validation.run(entries, kafka, ownPool);
      Map<String, Object> settled = valid.values();
      DatabaseSettings database =
          ownPool
              ? new DatabaseSettings(
                  (String) settled.get(Settings.PG_URL.key()),
                  (String) settled.get(Settings.PG_USER.key()),
                  (String) settled.get(Settings.PG_PASSWORD.key()),
                  (Integer) settled.get(Settings.PG_POOL_SIZE.key()))
              : null;
      return new IdemConfig(settled, valid.kafka(), valid.retry(), database, copy());
    }

    /** Whether {@code pg.url} is set: a blank URL means "no pool of idem's own". */
    private boolean databaseConfigured() {
      return values.get(Settings.PG_URL.key()) instanceof RawValue url && !url.text().isBlank();
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
