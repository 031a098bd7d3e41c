package dev.idem.consumer;

import dev.idem.consumer.internal.config.ConfigFiles;
import dev.idem.consumer.internal.config.Values;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The validated, immutable settings of one idempotent consumer.
 *
 * <p>Build it in code with {@link #builder(String)}, or load it from a properties or YAML file with
 * {@link #load(Path)} (keys documented in {@code config/idem.properties}). {@link Builder#build()}
 * checks everything and throws {@link IdemConfigException} naming the key and the fix; nothing is
 * quietly replaced.
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

  // Kafka's defaults (retention.ms = segment.ms = 7d, checked every 5 min) can deliver a record for
  // up to 14d 5m, which the start-up check asks the window to cover; the rest of the day is room
  // for providers' retries.
  private static final Duration DEFAULT_RETENTION_WINDOW = Duration.ofDays(15);
  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
  // Kafka refuses "." and "..".
  private static final Pattern TOPIC = Pattern.compile("(?!\\.\\.?$)[a-zA-Z0-9._-]{1,249}");
  private static final Map<String, String> PROTOCOL_CONSUMER_REJECTS =
      Map.of(
          "session.timeout.ms", "group.consumer.session.timeout.ms on the broker",
          "heartbeat.interval.ms", "group.consumer.heartbeat.interval.ms on the broker",
          "partition.assignment.strategy", "group.remote.assignor");

  public IdemConfig {
    topics = List.copyOf(topics);
    kafka = Map.copyOf(kafka);
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
    List<String> overridable = new ArrayList<>(Keys.KNOWN);
    overridable.add("consumer.name");
    overridable.add("consumer.topics");
    Map<String, String> values = ConfigFiles.withOverrides(properties, environment, overridable);
    Builder builder = new Builder(values.get("consumer.name"));
    values.forEach(builder::set);
    return builder;
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
    Map<String, Object> lines = new TreeMap<>();
    lines.put("consumer.name", consumerName);
    lines.put("consumer.topics", String.join(",", topics));
    lines.put("consumer.lock-namespace", lockNamespace);
    lines.put("consumer.schema", schema);
    lines.put("consumer.processed-table", processedTable);
    lines.put("consumer.dead-letter-table", deadLetterTable);
    lines.put("consumer.dead-letter-topic", deadLetterTopic == null ? "off" : deadLetterTopic);
    lines.put("consumer.lock-timeout", lockTimeout);
    lines.put("consumer.handler-timeout", handlerTimeout);
    lines.put("consumer.commit-interval", commitInterval);
    lines.put("consumer.drain-timeout", drainTimeout);
    lines.put("consumer.poll-timeout", pollTimeout);
    lines.put("consumer.concurrency", concurrency);
    lines.put("consumer.max-abandoned-workers", maxAbandonedWorkers);
    lines.put("consumer.max-in-flight", maxInFlight);
    lines.put("consumer.max-in-flight-bytes", maxInFlightBytes);
    lines.put("consumer.max-in-flight-per-partition", maxInFlightPerPartition);
    lines.put("consumer.max-uncommitted-per-partition", maxUncommittedPerPartition);
    lines.put("consumer.retry", retry);
    lines.put("consumer.batch.size", batchSize);
    lines.put("consumer.batch.max-locks", batchMaxLocks);
    lines.put("consumer.retention.window", retentionWindow == null ? "off" : retentionWindow);
    lines.put("consumer.retention.interval", retentionInterval);
    lines.put("consumer.retention.batch-size", retentionBatchSize);
    lines.put("consumer.retention.allow-shorter-than-topic", retentionAllowShorterThanTopic);
    lines.put("consumer.retention.topic-check-timeout", retentionTopicCheckTimeout);
    lines.put("consumer.offset-store", offsetStore.name().toLowerCase(Locale.ROOT));
    lines.put("consumer.read-retry-timeout", readRetryTimeout);
    lines.put(
        "consumer.transaction-state-check", transactionStateCheck.name().toLowerCase(Locale.ROOT));
    lines.put(
        "consumer.dead-letter.on-failure",
        deadLetterMode.name().toLowerCase(Locale.ROOT).replace('_', '-'));
    kafka.forEach((k, v) -> lines.put("kafka." + k, Values.maskIfSecret(k, v)));
    if (database != null) {
      lines.put("pg.url", JdbcUrls.mask(database.url()));
      lines.put("pg.user", database.user());
      lines.put("pg.password", "****");
      lines.put("pg.pool-size", database.poolSize());
    }
    StringBuilder sb = new StringBuilder();
    lines.forEach((k, v) -> sb.append("\n  ").append(k).append('=').append(v));
    return sb.toString();
  }

  /** The dead-letter topic for records of {@code sourceTopic}, or null when off. */
  public String deadLetterTopicFor(String sourceTopic) {
    return deadLetterTopic == null ? null : deadLetterTopic.replace("{topic}", sourceTopic);
  }

  /**
   * Producer properties derived from the consumer's Kafka properties: the connection and security
   * settings, for dead letters and replays.
   */
  public Map<String, Object> producerProperties() {
    Map<String, Object> props = new LinkedHashMap<>();
    java.util.Set<String> producerKeys =
        org.apache.kafka.clients.producer.ProducerConfig.configNames();
    kafka.forEach(
        (k, v) -> {
          if (producerKeys.contains(k)
              && !k.endsWith(".serializer")
              && !k.equals("client.id")
              && !k.equals("interceptor.classes")
              && !k.equals("metric.reporters")) {
            props.put(k, v);
          }
        });
    props.put("client.id", "idem-" + consumerName + "-producer");
    props.put("acks", "all");
    props.put("enable.idempotence", "true");
    props.put("max.block.ms", "10000");
    props.put("request.timeout.ms", "5000");
    props.put("delivery.timeout.ms", "15000");
    props.put("linger.ms", "0");
    // A dead letter is the source record plus idem's headers: the client must not refuse what the
    // source topic accepted. The dead-letter topic's max.message.bytes is the real limit.
    props.putIfAbsent("max.request.size", Integer.toString(16 * 1024 * 1024));
    props.putIfAbsent("buffer.memory", Long.toString(64L * 1024 * 1024));
    return props;
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
    private static final String NO_VALUE = "is null; give it a value or leave the setting out";
    private final String consumerName;
    private final List<String> topics = new ArrayList<>();
    private final Map<String, String> kafka = new LinkedHashMap<>();
    private final Map<String, String> settings = new LinkedHashMap<>();
    private int parsedMaxPollRecords;

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
        throw new IdemConfigException("kafka." + key, NO_VALUE);
      }
      kafka.put(key, value.toString());
      return this;
    }

    /** Shorthand for {@code kafka("bootstrap.servers", servers)}. */
    public Builder bootstrapServers(String servers) {
      return kafka(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
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
      return set("consumer.lock-timeout", Values.format(timeout));
    }

    /** The handler bound (statement and idle-in-transaction timeouts); default 60 s. */
    public Builder handlerTimeout(Duration timeout) {
      return set("consumer.handler-timeout", Values.format(timeout));
    }

    /** How often offsets are committed; default 1 s. */
    public Builder commitInterval(Duration interval) {
      return set("consumer.commit-interval", Values.format(interval));
    }

    /** How long revoke and close wait for in-flight work; default 10 s. */
    public Builder drainTimeout(Duration timeout) {
      return set("consumer.drain-timeout", Values.format(timeout));
    }

    /** How many records run at once; default 1. */
    public Builder concurrency(int concurrency) {
      return set("consumer.concurrency", Integer.toString(concurrency));
    }

    /**
     * How many worker threads abandoned by the watchdog may still be alive; default the
     * concurrency, 0 never abandons. A run whose transaction outlives lock-timeout +
     * handler-timeout + 1 s is abandoned (its thread interrupted, its connection aborted, the
     * record retried on a new thread) while fewer are alive; past that it keeps its slot and {@code
     * health()} reports the consumer unhealthy.
     */
    public Builder maxAbandonedWorkers(int workers) {
      return set("consumer.max-abandoned-workers", Integer.toString(workers));
    }

    /** The most records in flight (handed to workers, not done); default 2000. */
    public Builder maxInFlight(int records) {
      return set("consumer.max-in-flight", Integer.toString(records));
    }

    /**
     * A partition holding this many records in flight is paused alone, while the others keep
     * flowing (a retrying key with records of it queued behind); default 500, or max-in-flight when
     * that is lower.
     */
    public Builder maxInFlightPerPartition(int records) {
      return set("consumer.max-in-flight-per-partition", Integer.toString(records));
    }

    /**
     * A partition holding this many records above its committable offset (finished or not, behind a
     * record that is not finished) is paused alone; default 10,000. Bounds the offset tracker's
     * memory, the done rows kept in PostgreSQL ({@code consumer.offset-store=postgresql}) and what
     * is redelivered after a crash.
     */
    public Builder maxUncommittedPerPartition(int records) {
      return set("consumer.max-uncommitted-per-partition", Integer.toString(records));
    }

    /** The most bytes of records in flight; default 64 MiB. */
    public Builder maxInFlightBytes(long bytes) {
      return set("consumer.max-in-flight-bytes", Long.toString(bytes));
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
      return set("consumer.retention.window", window == null ? "off" : Values.format(window));
    }

    /**
     * Whether a consumer with offsets in Kafka starts although a topic can deliver records for
     * longer than {@link #retentionWindow(Duration) the window} (default false: {@code start()}
     * refuses, naming the topic). With true it starts with a warning; a replay of records older
     * than the window then applies them again.
     */
    public Builder retentionAllowShorterThanTopic(boolean allow) {
      return set("consumer.retention.allow-shorter-than-topic", Boolean.toString(allow));
    }

    /**
     * How long {@code start()} waits for the brokers to report the topics' retention settings
     * (default 10 s, at most 10 min). Without an answer in time the consumer starts and asks again
     * in the background; a refusal found then stops it.
     */
    public Builder retentionTopicCheckTimeout(Duration timeout) {
      return set("consumer.retention.topic-check-timeout", Values.format(timeout));
    }

    /** Batch mode: the most records of one partition handed to one batch; default 500. */
    public Builder batchSize(int records) {
      return set("consumer.batch.size", Integer.toString(records));
    }

    /**
     * Batch mode: the most advisory locks one transaction takes (default 1000); larger batches are
     * split. Every lock is an entry in the server's shared lock table (about {@code
     * max_locks_per_transaction x (max_connections + max_prepared_transactions)} entries, 6,400
     * with defaults), which every session of the server shares.
     */
    public Builder batchMaxLocks(int locks) {
      return set("consumer.batch.max-locks", Integer.toString(locks));
    }

    /**
     * Where done offsets are kept: {@link OffsetStore#KAFKA} (default) or {@link
     * OffsetStore#POSTGRESQL}, in the same transaction as each record's effects.
     */
    public Builder offsetStore(OffsetStore store) {
      return set(
          "consumer.offset-store",
          Objects.requireNonNull(store, "store").name().toLowerCase(Locale.ROOT));
    }

    /**
     * How long a record whose deserializer or event-id extractor fails with a retryable failure (by
     * default a network failure, such as a schema registry that is down) is retried before it is
     * dead-lettered; default 5 minutes. Later records of its ordering key wait meanwhile.
     */
    public Builder readRetryTimeout(Duration timeout) {
      return set("consumer.read-retry-timeout", Values.format(timeout));
    }

    /**
     * What a dead letter means for the later records of its ordering key: {@link
     * DeadLetterMode#SKIP} (default) or {@link DeadLetterMode#PARK_KEY}.
     */
    public Builder deadLetterMode(DeadLetterMode mode) {
      return set(
          "consumer.dead-letter.on-failure",
          Objects.requireNonNull(mode, "mode").name().toLowerCase(Locale.ROOT).replace('_', '-'));
    }

    /** How a transaction left aborted or ended by its handler is detected; default DRIVER. */
    public Builder transactionStateCheck(TransactionStateCheck check) {
      return set(
          "consumer.transaction-state-check",
          Objects.requireNonNull(check, "check").name().toLowerCase(Locale.ROOT));
    }

    /** The retry policy; default {@link RetryPolicy#defaults()}. */
    public Builder retry(RetryPolicy policy) {
      set("consumer.retry.max-attempts", Integer.toString(policy.maxAttempts()));
      set("consumer.retry.initial-backoff", Values.format(policy.initialBackoff()));
      set("consumer.retry.max-backoff", Values.format(policy.maxBackoff()));
      set("consumer.retry.multiplier", Double.toString(policy.multiplier()));
      return set("consumer.retry.jitter", Double.toString(policy.jitter()));
    }

    /** Connection settings for a pool idem opens itself. */
    public Builder database(String url, String user, String password, int poolSize) {
      set("pg.url", url);
      set("pg.user", user);
      set("pg.password", password);
      return set("pg.pool-size", Integer.toString(poolSize));
    }

    /**
     * Sets any setting by its file key: {@code consumer.*}, {@code pg.*}, or {@code kafka.*} for
     * Kafka consumer properties.
     *
     * @throws IdemConfigException for an unknown key or a null value
     */
    public Builder set(String key, String value) {
      if (value == null && !key.equals("consumer.name")) {
        throw new IdemConfigException(key, NO_VALUE);
      }
      if (key.startsWith("kafka.")) {
        return kafka(key.substring("kafka.".length()), value);
      }
      if (key.equals("consumer.topics")) {
        return topics(Values.list(value).toArray(String[]::new));
      }
      if (!key.equals("consumer.name") && !Keys.KNOWN.contains(key)) {
        throw new IdemConfigException(
            key, "unknown setting; the known ones are consumer.*, pg.* and kafka.* (see config/)");
      }
      if (!key.equals("consumer.name")) {
        settings.put(key, value);
      }
      return this;
    }

    /**
     * Validates every setting and returns the configuration.
     *
     * @throws IdemConfigException naming the first refused key and the fix
     */
    public IdemConfig build() {
      String name = required("consumer.name", consumerName);
      if (name.length() > 200) {
        throw new IdemConfigException("consumer.name", "must be at most 200 characters");
      }
      if (topics.isEmpty()) {
        throw new IdemConfigException(
            "consumer.topics", "is missing; name at least one topic to consume");
      }
      for (String topic : topics) {
        if (topic == null || !TOPIC.matcher(topic).matches()) {
          throw new IdemConfigException(
              "consumer.topics", "'" + topic + "' is not a valid Kafka topic name");
        }
      }
      String namespace = settings.getOrDefault("consumer.lock-namespace", name);
      if (namespace.isBlank()) {
        throw new IdemConfigException("consumer.lock-namespace", "must not be blank");
      }
      String schema = identifier("consumer.schema", "idem");
      String processed = identifier("consumer.processed-table", "processed_events");
      String deadLetters = identifier("consumer.dead-letter-table", "dead_letters");
      if (processed.equals(deadLetters)) {
        throw new IdemConfigException(
            "consumer.dead-letter-table", "must differ from consumer.processed-table");
      }
      String deadLetterTopic = deadLetterTopic();
      String isolation = settings.getOrDefault("consumer.transaction-isolation", "read_committed");
      if (!isolation.trim().toLowerCase(Locale.ROOT).replace(' ', '_').equals("read_committed")) {
        throw new IdemConfigException(
            "consumer.transaction-isolation",
            isolation
                + " is not allowed: idem's check must see a duplicate that committed while it"
                + " waited for the lock, which only READ COMMITTED does; remove the setting");
      }
      Duration lockTimeout = duration("consumer.lock-timeout", Duration.ofSeconds(30));
      Duration handlerTimeout = duration("consumer.handler-timeout", Duration.ofSeconds(60));
      if (lockTimeout.compareTo(handlerTimeout) > 0) {
        throw new IdemConfigException(
            "consumer.lock-timeout",
            "must not exceed consumer.handler-timeout ("
                + Values.format(handlerTimeout)
                + "): the statement timeout bounds the lock wait too");
      }
      if (lockTimeout.plus(handlerTimeout).toMillis() > Integer.MAX_VALUE) {
        throw new IdemConfigException(
            "consumer.handler-timeout",
            Values.format(handlerTimeout)
                + " plus consumer.lock-timeout ("
                + Values.format(lockTimeout)
                + ") is over PostgreSQL's limit for its timeouts (2147483647 ms, about 24 days);"
                + " lower them");
      }
      Duration commitInterval = duration("consumer.commit-interval", Duration.ofSeconds(1));
      Duration drainTimeout = duration("consumer.drain-timeout", Duration.ofSeconds(10));
      Duration pollTimeout = duration("consumer.poll-timeout", Duration.ofMillis(100));
      int concurrency = integer("consumer.concurrency", 1, 1, 10_000);
      int maxAbandonedWorkers = integer("consumer.max-abandoned-workers", concurrency, 0, 10_000);
      RetryPolicy defaults = RetryPolicy.defaults();
      RetryPolicy retry =
          new RetryPolicy(
              integer("consumer.retry.max-attempts", defaults.maxAttempts(), 1, 1_000_000),
              durationOrZero("consumer.retry.initial-backoff", defaults.initialBackoff()),
              duration("consumer.retry.max-backoff", defaults.maxBackoff()),
              decimal("consumer.retry.multiplier", defaults.multiplier()),
              decimal("consumer.retry.jitter", defaults.jitter()));
      Map<String, Object> kafkaProps = kafka(name, drainTimeout);
      int maxInFlight = integer("consumer.max-in-flight", 2000, 1, 10_000_000);
      long maxInFlightBytes =
          integer("consumer.max-in-flight-bytes", 64 * 1024 * 1024, 1024, Integer.MAX_VALUE);
      int maxInFlightPerPartition =
          integer(
              "consumer.max-in-flight-per-partition", Math.min(500, maxInFlight), 1, 10_000_000);
      if (maxInFlightPerPartition > maxInFlight) {
        throw new IdemConfigException(
            "consumer.max-in-flight-per-partition",
            maxInFlightPerPartition
                + " is above consumer.max-in-flight ("
                + maxInFlight
                + "): one partition cannot hold more than the whole consumer; lower it");
      }
      int maxUncommittedPerPartition =
          integer("consumer.max-uncommitted-per-partition", 10_000, 1, 100_000_000);
      int maxPollRecords = parsedMaxPollRecords;
      if (maxInFlight < maxPollRecords) {
        throw new IdemConfigException(
            "consumer.max-in-flight",
            maxInFlight
                + " is below kafka.max.poll.records ("
                + maxPollRecords
                + "): one poll must fit; raise it or lower kafka.max.poll.records");
      }
      DatabaseSettings database = database(concurrency);
      String rawWindow = settings.get("consumer.retention.window");
      Duration retentionWindow =
          rawWindow != null && rawWindow.trim().equalsIgnoreCase("off")
              ? null
              : duration("consumer.retention.window", DEFAULT_RETENTION_WINDOW);
      Duration retentionInterval = duration("consumer.retention.interval", Duration.ofHours(1));
      int retentionBatchSize = integer("consumer.retention.batch-size", 5000, 1, 1_000_000);
      boolean allowShorter = bool("consumer.retention.allow-shorter-than-topic", false);
      Duration topicCheckTimeout =
          duration("consumer.retention.topic-check-timeout", Duration.ofSeconds(10));
      if (topicCheckTimeout.compareTo(Duration.ofMinutes(10)) > 0) {
        throw new IdemConfigException(
            "consumer.retention.topic-check-timeout",
            Values.format(topicCheckTimeout)
                + " is too long: start() waits this long for an unreachable broker; use at most"
                + " 10m");
      }
      int batchSize = integer("consumer.batch.size", 500, 1, 100_000);
      int batchMaxLocks = integer("consumer.batch.max-locks", 1000, 1, 100_000);
      OffsetStore offsetStore = offsetStore();
      Duration readRetryTimeout = duration("consumer.read-retry-timeout", Duration.ofMinutes(5));
      TransactionStateCheck stateCheck = transactionStateCheck();
      DeadLetterMode deadLetterMode = deadLetterMode();
      return new IdemConfig(
          name,
          topics,
          kafkaProps,
          namespace,
          schema,
          processed,
          deadLetters,
          deadLetterTopic,
          lockTimeout,
          handlerTimeout,
          commitInterval,
          drainTimeout,
          pollTimeout,
          concurrency,
          maxAbandonedWorkers,
          maxInFlight,
          maxInFlightBytes,
          maxInFlightPerPartition,
          maxUncommittedPerPartition,
          retry,
          batchSize,
          batchMaxLocks,
          retentionWindow,
          retentionInterval,
          retentionBatchSize,
          allowShorter,
          topicCheckTimeout,
          offsetStore,
          readRetryTimeout,
          stateCheck,
          deadLetterMode,
          database);
    }

    private DeadLetterMode deadLetterMode() {
      String raw = settings.getOrDefault("consumer.dead-letter.on-failure", "skip").trim();
      return switch (raw.toLowerCase(Locale.ROOT)) {
        case "skip" -> DeadLetterMode.SKIP;
        case "park-key" -> DeadLetterMode.PARK_KEY;
        default ->
            throw new IdemConfigException(
                "consumer.dead-letter.on-failure",
                "'"
                    + raw
                    + "' is not a dead-letter mode; use skip (default: later records of the key go"
                    + " on) or park-key (they are dead-lettered behind it, in order, until a"
                    + " replay)");
      };
    }

    private TransactionStateCheck transactionStateCheck() {
      String raw = settings.getOrDefault("consumer.transaction-state-check", "driver").trim();
      return switch (raw.toLowerCase(Locale.ROOT)) {
        case "driver" -> TransactionStateCheck.DRIVER;
        case "query" -> TransactionStateCheck.QUERY;
        default ->
            throw new IdemConfigException(
                "consumer.transaction-state-check",
                "'" + raw + "' is not a state check; use driver (default) or query");
      };
    }

    private OffsetStore offsetStore() {
      String raw = settings.getOrDefault("consumer.offset-store", "kafka").trim();
      return switch (raw.toLowerCase(Locale.ROOT)) {
        case "kafka" -> OffsetStore.KAFKA;
        case "postgresql", "postgres" -> OffsetStore.POSTGRESQL;
        default ->
            throw new IdemConfigException(
                "consumer.offset-store",
                "'" + raw + "' is not an offset store; use kafka (default) or postgresql");
      };
    }

    private Map<String, Object> kafka(String name, Duration drainTimeout) {
      Map<String, Object> props = new LinkedHashMap<>(kafka);
      if (blank(props.get(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG))) {
        throw new IdemConfigException(
            "kafka.bootstrap.servers",
            "is missing; set it (or KAFKA_BOOTSTRAP_SERVERS) to the brokers, e.g."
                + " localhost:9092");
      }
      Object autoCommit = props.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
      if (autoCommit != null && !"false".equalsIgnoreCase(autoCommit.toString().trim())) {
        throw new IdemConfigException(
            "kafka.enable.auto.commit",
            autoCommit
                + " is not allowed: idem commits offsets after the database commit; remove the"
                + " setting");
      }
      Object isolation = props.get(ConsumerConfig.ISOLATION_LEVEL_CONFIG);
      if (isolation != null && !"read_committed".equals(isolation.toString().trim())) {
        throw new IdemConfigException(
            "kafka.isolation.level",
            isolation
                + " is not allowed: records of aborted producer transactions would be applied;"
                + " remove the setting (idem uses read_committed)");
      }
      for (String key :
          List.of(
              ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
              ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG)) {
        if (props.containsKey(key)) {
          throw new IdemConfigException(
              "kafka." + key,
              "is not allowed: idem reads raw bytes so that a record it cannot read never stops"
                  + " the poll loop; remove it and give the consumer a PayloadDeserializer");
        }
      }
      String protocol = Objects.toString(props.get("group.protocol"), "classic").trim();
      if (protocol.equalsIgnoreCase("consumer")) {
        for (Map.Entry<String, String> rejected : PROTOCOL_CONSUMER_REJECTS.entrySet()) {
          if (props.containsKey(rejected.getKey())) {
            throw new IdemConfigException(
                "kafka." + rejected.getKey(),
                "is rejected by group.protocol=consumer; remove it (use "
                    + rejected.getValue()
                    + ")");
          }
        }
      }
      groupInstanceId(props.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), protocol);
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      props.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      props.putIfAbsent(ConsumerConfig.GROUP_ID_CONFIG, name);
      props.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "idem-" + name);
      props.put(
          ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      props.put(
          ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      ConsumerConfig parsed;
      try {
        parsed = new ConsumerConfig(props);
      } catch (ConfigException e) {
        throw Values.kafkaRefusal(e);
      }
      int maxPollInterval = parsed.getInt(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG);
      parsedMaxPollRecords = parsed.getInt(ConsumerConfig.MAX_POLL_RECORDS_CONFIG);
      if (drainTimeout.toMillis() >= maxPollInterval) {
        throw new IdemConfigException(
            "consumer.drain-timeout",
            Values.format(drainTimeout)
                + " must be shorter than kafka.max.poll.interval.ms ("
                + maxPollInterval
                + " ms): a revoke that drains longer is kicked out of the group");
      }
      return props;
    }

    /**
     * Static membership: checked here, because Kafka checks the id only when the client is created
     * on the poll thread, after {@code start()} returned.
     */
    private static void groupInstanceId(Object id, String protocol) {
      if (id == null) {
        return;
      }
      if (!TOPIC.matcher(id.toString()).matches()) {
        throw new IdemConfigException(
            "kafka.group.instance.id",
            "'"
                + id
                + "' is not an id Kafka accepts; use 1 to 249 of a-z A-Z 0-9 . _ - (not . or ..),"
                + " e.g. the host name and an index");
      }
      if (protocol.equalsIgnoreCase("consumer")) {
        throw new IdemConfigException(
            "kafka.group.instance.id",
            "static membership does not survive a crash with group.protocol=consumer: the broker"
                + " refuses the restarted instance (UNRELEASED_INSTANCE_ID, fatal for the client)"
                + " until the dead member's session timed out; use group.protocol=classic (the"
                + " default) with group.instance.id, or remove group.instance.id");
      }
    }

    private String deadLetterTopic() {
      String raw = settings.getOrDefault("consumer.dead-letter-topic", "off").trim();
      if (raw.equalsIgnoreCase("off") || raw.isEmpty()) {
        return null;
      }
      String template = raw.equalsIgnoreCase("on") ? "{topic}.DLT" : raw;
      String sample = template.replace("{topic}", "t");
      if (!TOPIC.matcher(sample).matches()) {
        throw new IdemConfigException(
            "consumer.dead-letter-topic",
            "'"
                + raw
                + "' is not a topic name template; use off, on ({topic}.DLT) or a name such as"
                + " {topic}.dead-letters");
      }
      for (String topic : topics) {
        String target = template.replace("{topic}", topic);
        if (topics.contains(target)) {
          throw new IdemConfigException(
              "consumer.dead-letter-topic",
              "'"
                  + raw
                  + "' sends dead letters of "
                  + topic
                  + " to "
                  + target
                  + ", a topic this consumer reads; use another name, e.g. {topic}.DLT");
        }
        if (!TOPIC.matcher(target).matches()) {
          throw new IdemConfigException(
              "consumer.dead-letter-topic",
              "'"
                  + raw
                  + "' gives "
                  + target
                  + " for "
                  + topic
                  + ", not a valid topic name (at most 249 of a-z A-Z 0-9 . _ -); use a shorter"
                  + " template");
        }
      }
      return template;
    }

    private DatabaseSettings database(int concurrency) {
      String url = settings.get("pg.url");
      if (blank(url)) {
        return null;
      }
      if (!url.startsWith("jdbc:postgresql:")) {
        throw new IdemConfigException(
            "pg.url", "must be a PostgreSQL JDBC URL (jdbc:postgresql://host:port/db)");
      }
      int poolSize = integer("pg.pool-size", concurrency + 2, 1, 10_000);
      if (poolSize < concurrency + 2) {
        throw new IdemConfigException(
            "pg.pool-size",
            poolSize
                + " is too small for consumer.concurrency="
                + concurrency
                + ": the pool needs at least concurrency + 2 = "
                + (concurrency + 2)
                + " connections");
      }
      return new DatabaseSettings(
          url,
          settings.getOrDefault("pg.user", "postgres"),
          settings.getOrDefault("pg.password", ""),
          poolSize);
    }

    private static boolean blank(Object value) {
      return value == null || value.toString().isBlank();
    }

    private static String required(String key, String value) {
      // trim() also strips control characters, so check what is left.
      if (value == null || value.trim().isBlank()) {
        throw new IdemConfigException(key, "is missing; give the consumer a name");
      }
      if (value.trim().chars().anyMatch(Character::isISOControl)) {
        throw new IdemConfigException(
            key,
            "must not contain control characters (PostgreSQL text cannot hold NUL); use letters,"
                + " digits and punctuation");
      }
      return value.trim();
    }

    private String identifier(String key, String defaultValue) {
      String value = settings.getOrDefault(key, defaultValue);
      if (!IDENTIFIER.matcher(value).matches()) {
        throw new IdemConfigException(
            key,
            "'"
                + value
                + "' is not allowed: use a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most"
                + " 63 characters)");
      }
      return value;
    }

    private Duration duration(String key, Duration defaultValue) {
      Duration value = durationOrZero(key, defaultValue);
      if (value.isZero()) {
        throw new IdemConfigException(key, "must be positive, was 0");
      }
      return value;
    }

    private Duration durationOrZero(String key, Duration defaultValue) {
      String raw = settings.get(key);
      return raw == null ? defaultValue : Values.duration(key, raw);
    }

    private int integer(String key, int defaultValue, int min, int max) {
      String raw = settings.get(key);
      return raw == null ? defaultValue : Values.integer(key, raw, min, max);
    }

    private boolean bool(String key, boolean defaultValue) {
      String raw = settings.get(key);
      return raw == null ? defaultValue : Values.bool(key, raw);
    }

    private double decimal(String key, double defaultValue) {
      String raw = settings.get(key);
      return raw == null ? defaultValue : Values.decimal(key, raw);
    }
  }

  /** The {@code consumer.*} and {@code pg.*} keys. */
  static final class Keys {
    static final List<String> KNOWN =
        List.of(
            "consumer.lock-namespace",
            "consumer.schema",
            "consumer.processed-table",
            "consumer.dead-letter-table",
            "consumer.dead-letter-topic",
            "consumer.transaction-isolation",
            "consumer.lock-timeout",
            "consumer.handler-timeout",
            "consumer.commit-interval",
            "consumer.drain-timeout",
            "consumer.poll-timeout",
            "consumer.concurrency",
            "consumer.max-abandoned-workers",
            "consumer.max-in-flight",
            "consumer.max-in-flight-bytes",
            "consumer.max-in-flight-per-partition",
            "consumer.max-uncommitted-per-partition",
            "consumer.retry.max-attempts",
            "consumer.retry.initial-backoff",
            "consumer.retry.max-backoff",
            "consumer.retry.multiplier",
            "consumer.retry.jitter",
            "consumer.batch.size",
            "consumer.batch.max-locks",
            "consumer.retention.window",
            "consumer.retention.interval",
            "consumer.retention.batch-size",
            "consumer.retention.allow-shorter-than-topic",
            "consumer.retention.topic-check-timeout",
            "consumer.offset-store",
            "consumer.read-retry-timeout",
            "consumer.transaction-state-check",
            "consumer.dead-letter.on-failure",
            "pg.url",
            "pg.user",
            "pg.password",
            "pg.pool-size");

    private Keys() {}
  }
}
