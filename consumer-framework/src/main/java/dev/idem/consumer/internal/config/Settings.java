package dev.idem.consumer.internal.config;

import dev.idem.consumer.DeadLetterMode;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.JdbcUrls;
import dev.idem.consumer.OffsetStore;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.TransactionStateCheck;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

// Over 400 lines because it is the table itself: 39 definitions of about ten formatted lines each.
// Splitting it would put back the second place a key is spelled in.

/**
 * The table of idem's {@code consumer.*} and {@code pg.*} settings, one definition each. {@code
 * kafka.*} keys are Kafka's own, passed through ({@link KafkaClientProperties}).
 *
 * <p>{@code config/idem.properties} documents every key here, with the defaults stated here; a test
 * compares the two, and {@link #reference()} prints the table.
 */
public final class Settings {
  private static final RetryPolicy RETRY = RetryPolicy.defaults();
  private static final String NAME_MISSING = "is missing; give the consumer a name";

  /** The consumer's name. */
  public static final Setting<String> NAME =
      define(
          "consumer.name",
          new Kind<>(
              "text",
              Kind.Nulls.REFUSED,
              NAME_MISSING,
              (key, raw) -> raw.trim(),
              Settings::checkName,
              Function.identity()),
          null,
          "required",
          "Processed marks are kept per (consumer name, event id)");

  /** The topics to consume. */
  public static final Setting<List<String>> TOPICS =
      define(
          "consumer.topics",
          Kind.list(
              "is missing; name at least one topic to consume",
              (key, t) -> {
                if (t == null || !DeadLetterTopics.TOPIC.matcher(t).matches()) {
                  throw new IdemConfigException(key, "'" + t + "' is not a valid Kafka topic name");
                }
              }),
          null,
          "required",
          "Comma-separated topics to consume");

  public static final Setting<String> LOCK_NAMESPACE =
      define(
          "consumer.lock-namespace",
          Kind.plainText(),
          null,
          "the consumer name",
          "Advisory-lock namespace");
  public static final Setting<String> SCHEMA =
      define("consumer.schema", Kind.identifier(), "idem", "Schema of idem's tables");
  public static final Setting<String> PROCESSED_TABLE =
      define(
          "consumer.processed-table",
          Kind.identifier(),
          "processed_events",
          "Table of processed marks");
  public static final Setting<String> DEAD_LETTER_TABLE =
      define(
          "consumer.dead-letter-table", Kind.identifier(), "dead_letters", "Table of dead letters");
  public static final Setting<String> DEAD_LETTER_TOPIC =
      define(
          DeadLetterTopics.KEY,
          new Kind<>(
                  "off, on or a template with {topic}",
                  Kind.Nulls.REFUSED,
                  Kind.NO_VALUE,
                  (key, raw) -> DeadLetterTopics.template(raw),
                  (key, t) -> DeadLetterTopics.checkTemplate(t),
                  Function.<String>identity())
              .orOff(),
          null,
          "off",
          "Dead letters also go to this topic ({topic} is the source topic; on = {topic}.DLT)");
  public static final Setting<String> TRANSACTION_ISOLATION =
      define(
          "consumer.transaction-isolation",
          new Kind<>(
              "read_committed",
              Kind.Nulls.REFUSED,
              Kind.NO_VALUE,
              (key, raw) -> raw.trim().toLowerCase(Locale.ROOT).replace(' ', '_'),
              (key, v) -> {
                if (!v.equals("read_committed")) {
                  throw new IdemConfigException(
                      key,
                      v
                          + " is not allowed: idem's check must see a duplicate that committed"
                          + " while it waited for the lock, which only READ COMMITTED does; remove"
                          + " the setting");
                }
              },
              Function.identity()),
          "read_committed",
          "Isolation of processing transactions (only read_committed)");
  public static final Setting<Duration> LOCK_TIMEOUT =
      duration("consumer.lock-timeout", 30_000, "Wait for a copy's lock");
  public static final Setting<Duration> HANDLER_TIMEOUT =
      duration(
          "consumer.handler-timeout", 60_000, "Bound of statements and idle time in a transaction");
  public static final Setting<Duration> COMMIT_INTERVAL =
      duration("consumer.commit-interval", 1_000, "Offset commit interval");
  public static final Setting<Duration> DRAIN_TIMEOUT =
      duration("consumer.drain-timeout", 10_000, "Wait for in-flight records at revoke and close");
  public static final Setting<Duration> POLL_TIMEOUT =
      duration("consumer.poll-timeout", 100, "Longest single poll");
  public static final Setting<Integer> CONCURRENCY =
      define("consumer.concurrency", Kind.integer(1, 10_000), 1, "Records processed at once");
  public static final Setting<Integer> MAX_ABANDONED_WORKERS =
      define(
          "consumer.max-abandoned-workers",
          Kind.integer(0, 10_000),
          null,
          "the concurrency",
          "Hung worker threads abandoned by the watchdog that may still be alive");
  public static final Setting<Integer> MAX_IN_FLIGHT =
      define(
          "consumer.max-in-flight",
          Kind.integer(1, 10_000_000),
          2000,
          "Records in flight before every partition is paused");
  public static final Setting<Long> MAX_IN_FLIGHT_BYTES =
      define(
          "consumer.max-in-flight-bytes",
          Kind.longInteger(1024, Integer.MAX_VALUE),
          64L * 1024 * 1024,
          "Bytes in flight before every partition is paused");
  public static final Setting<Integer> MAX_IN_FLIGHT_PER_PARTITION =
      define(
          "consumer.max-in-flight-per-partition",
          Kind.integer(1, 10_000_000),
          null,
          "2 x batch.size (1000), at least 500, at most max-in-flight",
          "Records in flight before one partition is paused alone");
  public static final Setting<Integer> MAX_UNCOMMITTED_PER_PARTITION =
      define(
          "consumer.max-uncommitted-per-partition",
          Kind.integer(1, 100_000_000),
          10_000,
          "Records above the committable offset before one partition is paused alone");
  public static final Setting<Integer> RETRY_MAX_ATTEMPTS =
      define(
          "consumer.retry.max-attempts",
          Kind.integer(1, 1_000_000),
          RETRY.maxAttempts(),
          "Attempts of a failed record before it is dead-lettered");
  public static final Setting<Duration> RETRY_INITIAL_BACKOFF =
      define(
          "consumer.retry.initial-backoff",
          Kind.durationOrZero(),
          RETRY.initialBackoff(),
          "Delay before the second attempt");
  public static final Setting<Duration> RETRY_MAX_BACKOFF =
      define(
          "consumer.retry.max-backoff",
          Kind.duration(),
          RETRY.maxBackoff(),
          "Longest delay between attempts");
  public static final Setting<Double> RETRY_MULTIPLIER =
      define(
          "consumer.retry.multiplier",
          Kind.decimal(),
          RETRY.multiplier(),
          "Growth of the delay per attempt (at least 1)");
  public static final Setting<Double> RETRY_JITTER =
      define(
          "consumer.retry.jitter",
          Kind.decimal(),
          RETRY.jitter(),
          "Random fraction of each delay (0 to 1)");
  public static final Setting<Integer> BATCH_SIZE =
      define(
          "consumer.batch.size",
          Kind.integer(1, 100_000),
          500,
          "Batch mode: the most records of one partition in one batch");
  public static final Setting<Integer> BATCH_MAX_LOCKS =
      define(
          "consumer.batch.max-locks",
          Kind.integer(1, 100_000),
          1000,
          "Batch mode: the most advisory locks in one transaction");
  public static final Setting<Integer> TRANSACTION_MAX_RECORDS =
      define(
          "consumer.transaction.max-records",
          Kind.integer(1, Integer.MAX_VALUE),
          1,
          "Per-record handlers: the most records of one partition applied in one transaction"
              + " (1 = one each; recommended 32; at most 64)");
  public static final Setting<Duration> RETENTION_WINDOW =
      define(
          "consumer.retention.window",
          Kind.duration().orOff(),
          Duration.ofDays(15),
          "How long processed marks are kept (off keeps them forever)");
  public static final Setting<Duration> RETENTION_INTERVAL =
      duration("consumer.retention.interval", 3_600_000, "How often the retention job runs");
  public static final Setting<Integer> RETENTION_BATCH_SIZE =
      define(
          "consumer.retention.batch-size",
          Kind.integer(1, 1_000_000),
          5000,
          "Marks deleted per retention transaction");
  public static final Setting<Boolean> RETENTION_ALLOW_SHORTER_THAN_TOPIC =
      define(
          "consumer.retention.allow-shorter-than-topic",
          Kind.bool(),
          false,
          "Start although a topic can deliver records for longer than the window");
  public static final Setting<Duration> RETENTION_TOPIC_CHECK_TIMEOUT =
      define(
          "consumer.retention.topic-check-timeout",
          Kind.durationAtMost(
              Duration.ofMinutes(10), "start() waits this long for an unreachable broker"),
          Duration.ofSeconds(10),
          "How long start() waits for the topics' retention settings");
  public static final Setting<OffsetStore> OFFSET_STORE =
      define(
          "consumer.offset-store",
          Kind.choice(
              names("kafka", OffsetStore.KAFKA, "postgresql", OffsetStore.POSTGRESQL)
                  .with("postgres", OffsetStore.POSTGRESQL),
              "an offset store",
              "use kafka (default) or postgresql"),
          OffsetStore.KAFKA,
          "Where done offsets are authoritative");
  public static final Setting<Duration> READ_RETRY_TIMEOUT =
      duration(
          "consumer.read-retry-timeout",
          300_000,
          "Retry time of a record that cannot be read for a retryable reason");
  public static final Setting<TransactionStateCheck> TRANSACTION_STATE_CHECK =
      define(
          "consumer.transaction-state-check",
          Kind.choice(
              names("driver", TransactionStateCheck.DRIVER, "query", TransactionStateCheck.QUERY),
              "a state check",
              "use driver (default) or query"),
          TransactionStateCheck.DRIVER,
          "How a transaction left aborted by its handler is detected");
  public static final Setting<DeadLetterMode> DEAD_LETTER_MODE =
      define(
          "consumer.dead-letter.on-failure",
          Kind.choice(
              names("skip", DeadLetterMode.SKIP, "park-key", DeadLetterMode.PARK_KEY),
              "a dead-letter mode",
              "use skip (default: later records of the key go on) or park-key (they are"
                  + " dead-lettered behind it, in order, until a replay)"),
          DeadLetterMode.SKIP,
          "What a dead letter means for the later records of its key");
  public static final Setting<String> PG_URL =
      define(
          "pg.url",
          new Kind<>(
                  "JDBC URL",
                  Kind.Nulls.REFUSED,
                  Kind.NO_VALUE,
                  (key, raw) -> raw,
                  (key, url) -> {
                    if (!url.startsWith("jdbc:postgresql:")) {
                      throw new IdemConfigException(
                          key, "must be a PostgreSQL JDBC URL (jdbc:postgresql://host:port/db)");
                    }
                  },
                  JdbcUrls::mask)
              .orAbsent(),
          null,
          "none",
          "PostgreSQL JDBC URL, when idem opens its own pool");
  public static final Setting<String> PG_USER =
      define("pg.user", Kind.anyText().orAbsent(), "postgres", "PostgreSQL user");
  public static final Setting<String> PG_PASSWORD =
      define(
          "pg.password",
          Kind.anyText().orAbsent().printedAs(p -> p == null ? null : "****"),
          "",
          "PostgreSQL password (never logged)");
  public static final Setting<Integer> PG_POOL_SIZE =
      define(
          "pg.pool-size",
          Kind.integer(1, 10_000).orAbsent(),
          null,
          "concurrency + 2",
          "Size of the pool idem opens (at least concurrency + 2)");

  /** Every setting, in the order of {@code config/idem.properties}. */
  public static final List<Setting<?>> ALL =
      List.of(
          NAME,
          TOPICS,
          LOCK_NAMESPACE,
          SCHEMA,
          PROCESSED_TABLE,
          DEAD_LETTER_TABLE,
          TRANSACTION_ISOLATION,
          LOCK_TIMEOUT,
          HANDLER_TIMEOUT,
          COMMIT_INTERVAL,
          OFFSET_STORE,
          DRAIN_TIMEOUT,
          POLL_TIMEOUT,
          CONCURRENCY,
          MAX_ABANDONED_WORKERS,
          MAX_IN_FLIGHT,
          MAX_IN_FLIGHT_BYTES,
          MAX_IN_FLIGHT_PER_PARTITION,
          MAX_UNCOMMITTED_PER_PARTITION,
          READ_RETRY_TIMEOUT,
          TRANSACTION_STATE_CHECK,
          RETRY_MAX_ATTEMPTS,
          RETRY_INITIAL_BACKOFF,
          RETRY_MAX_BACKOFF,
          RETRY_MULTIPLIER,
          RETRY_JITTER,
          BATCH_SIZE,
          BATCH_MAX_LOCKS,
          TRANSACTION_MAX_RECORDS,
          RETENTION_WINDOW,
          RETENTION_INTERVAL,
          RETENTION_BATCH_SIZE,
          RETENTION_ALLOW_SHORTER_THAN_TOPIC,
          RETENTION_TOPIC_CHECK_TIMEOUT,
          DEAD_LETTER_TOPIC,
          DEAD_LETTER_MODE,
          PG_URL,
          PG_USER,
          PG_PASSWORD,
          PG_POOL_SIZE);

  private static final Map<String, Setting<?>> BY_KEY = new LinkedHashMap<>();

  static {
    ALL.forEach(s -> BY_KEY.put(s.key(), s));
  }

  private Settings() {}

  /** The setting of {@code key}, or null when it is not one of idem's. */
  public static Setting<?> byKey(String key) {
    return BY_KEY.get(key);
  }

  /**
   * The effective settings as sorted {@code key=value} lines, secrets masked.
   *
   * @param values every setting's value by key
   */
  public static Map<String, String> describe(Map<String, Object> values) {
    Map<String, String> lines = new TreeMap<>();
    for (Setting<?> s : ALL) {
      String value = s.print(values.get(s.key()));
      if (value != null) {
        lines.put(s.key(), value);
      }
    }
    return lines;
  }

  /**
   * Whether {@code setting}'s default depends on other settings (its table default is null then):
   * the lock namespace is the consumer name, the abandoned workers and the pool size follow the
   * concurrency, the per-partition bound follows the batch size and the whole bound.
   */
  static boolean isDerived(Setting<?> setting) {
    return DERIVED.containsKey(setting.key());
  }

  /** Whether every setting {@code setting}'s default is derived from has a valid value. */
  static boolean canDerive(Setting<?> setting, Map<String, Object> values) {
    return DERIVED.get(setting.key()).from().stream().allMatch(s -> values.containsKey(s.key()));
  }

  /** {@code setting}'s default, derived from the other settings' valid {@code values}. */
  static Object derive(Setting<?> setting, Map<String, Object> values) {
    return DERIVED.get(setting.key()).rule().apply(values);
  }

  /** A default derived from other settings: the settings it reads and how. */
  private record Derivation(List<Setting<?>> from, Function<Map<String, Object>, Object> rule) {}

  private static final Map<String, Derivation> DERIVED =
      Map.of(
          LOCK_NAMESPACE.key(),
          new Derivation(List.of(NAME), v -> v.get(NAME.key())),
          MAX_ABANDONED_WORKERS.key(),
          new Derivation(List.of(CONCURRENCY), v -> v.get(CONCURRENCY.key())),
          // Two batches per partition by default: the next batch is polled and queued while one
          // commits, so a partition's lane does not wait for a poll after each commit.
          MAX_IN_FLIGHT_PER_PARTITION.key(),
          new Derivation(
              List.of(BATCH_SIZE, MAX_IN_FLIGHT),
              v ->
                  Math.min(
                      Math.max(500, 2 * (Integer) v.get(BATCH_SIZE.key())),
                      (Integer) v.get(MAX_IN_FLIGHT.key()))),
          PG_POOL_SIZE.key(),
          new Derivation(List.of(CONCURRENCY), v -> (Integer) v.get(CONCURRENCY.key()) + 2));

  /** The reference of every setting: one Markdown table row each (key, type, default, env, doc). */
  public static String reference() {
    StringBuilder sb = new StringBuilder("| Key | Type | Default | Environment | Meaning |\n");
    sb.append("|---|---|---|---|---|\n");
    for (Setting<?> s : ALL) {
      sb.append("| `")
          .append(s.key())
          .append("` | ")
          .append(s.kind().text())
          .append(" | ")
          .append(s.defaultText())
          .append(" | `")
          .append(s.envName())
          .append("` | ")
          .append(s.doc())
          .append(" |\n");
    }
    return sb.toString();
  }

  /** Prints {@link #reference()}. */
  public static void main(String[] args) {
    System.out.print(reference());
  }

  private static void checkName(String key, String value) {
    // trim() also strips control characters, so check what is left.
    if (value.trim().isBlank()) {
      throw new IdemConfigException(key, NAME_MISSING);
    }
    if (value.trim().chars().anyMatch(Character::isISOControl)) {
      throw new IdemConfigException(
          key,
          "must not contain control characters (PostgreSQL text cannot hold NUL); use letters,"
              + " digits and punctuation");
    }
    if (value.length() > 200) {
      throw new IdemConfigException(key, "must be at most 200 characters");
    }
  }

  private static Setting<Duration> duration(String key, long defaultMillis, String doc) {
    return define(key, Kind.duration(), Duration.ofMillis(defaultMillis), doc);
  }

  private static <T> Setting<T> define(String key, Kind<T> kind, T defaultValue, String doc) {
    String text = kind.printer().apply(defaultValue);
    if (defaultValue instanceof Duration d) {
      text = shortly(d);
    }
    return new Setting<>(key, kind, defaultValue, text, doc);
  }

  private static <T> Setting<T> define(
      String key, Kind<T> kind, T defaultValue, String defaultText, String doc) {
    return new Setting<>(key, kind, defaultValue, defaultText, doc);
  }

  /** A default as the file writes it: 15d, 1h, 30s, 100ms. */
  private static String shortly(Duration d) {
    long ms = d.toMillis();
    for (var unit :
        new Object[][] {{86_400_000L, "d"}, {3_600_000L, "h"}, {60_000L, "m"}, {1000L, "s"}}) {
      long size = (Long) unit[0];
      if (ms > 0 && ms % size == 0) {
        return ms / size + (String) unit[1];
      }
    }
    return ms + "ms";
  }

  private static <E> Names<E> names(String a, E first, String b, E second) {
    Names<E> names = new Names<>();
    names.put(a, first);
    names.put(b, second);
    return names;
  }

  /** Accepted names in order (the first of each value is the one printed). */
  private static final class Names<E> extends LinkedHashMap<String, E> {
    private static final long serialVersionUID = 1L;

    Names<E> with(String name, E value) {
      put(name, value);
      return this;
    }
  }
}
