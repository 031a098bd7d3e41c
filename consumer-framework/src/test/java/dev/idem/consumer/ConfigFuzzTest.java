package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.internal.config.ConfigFiles;
import dev.idem.testkit.Fuzz;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every configuration key, fed many hostile values through the builder and through environment
 * overrides: building either succeeds with a value the rest of idem can use, or fails with an
 * {@link IdemConfigException} that names the key and says what to do. Seeded: see {@link Fuzz}.
 */
class ConfigFuzzTest {
  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
  private static final Pattern TOPIC = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

  /** Words of a message that tells the reader what to do. */
  private static final Pattern ADVICE =
      Pattern.compile(
          "\\b(use|write|set|must|remove|raise|lower|give|name|at least|at most|between)\\b");

  private static final long PG_MAX_MILLIS = Integer.MAX_VALUE;
  private static final Duration DEADLINE = Duration.ofSeconds(40);

  private static long seed;

  @BeforeAll
  static void seed() {
    seed = Fuzz.seed(ConfigFuzzTest.class);
  }

  /** A valid configuration with a database, so that every key takes part in validation. */
  private static Map<String, String> base() {
    Map<String, String> values = new LinkedHashMap<>();
    values.put("consumer.name", "fuzzed");
    values.put("consumer.topics", "payments");
    values.put("kafka.bootstrap.servers", "localhost:9092");
    values.put("pg.url", "jdbc:postgresql://localhost:5432/postgres");
    return values;
  }

  private static List<String> idemKeys() {
    List<String> keys = new ArrayList<>(IdemConfig.Keys.KNOWN);
    keys.add("consumer.name");
    keys.add("consumer.topics");
    return keys;
  }

  @Test
  void everyIdemKeyRefusesHostileValuesByNameOrAcceptsAUsableOne() {
    Random random = new Random(seed);
    Problems problems = new Problems();
    long deadline = System.nanoTime() + DEADLINE.toNanos();
    int tried = 0;
    for (String key : idemKeys()) {
      List<String> values = new ArrayList<>(Fuzz.hostileValues(random, 160));
      values.add(null);
      for (String value : values) {
        if (System.nanoTime() > deadline) {
          break;
        }
        Map<String, String> properties = base();
        properties.put(key, value);
        tried++;
        check(problems, key, value, "builder", () -> builder(properties).build());
        if (value != null) {
          Map<String, String> environment = Map.of(ConfigFiles.envName(key), value);
          check(
              problems,
              key,
              value,
              "environment",
              () -> IdemConfig.fromProperties(base(), environment).build());
        }
      }
    }
    System.out.println("ConfigFuzzTest: " + tried + " idem values tried");
    assertThat(problems.all.keySet()).as("seed %d: %s", seed, problems).isEmpty();
    assertThat(tried).as("seed %d", seed).isGreaterThan(1000);
  }

  @Test
  void kafkaKeysThatKafkaRefusesAreNamedInTheMessage() {
    Random random = new Random(seed ^ 0x5deece66dL);
    Problems problems = new Problems();
    long deadline = System.nanoTime() + DEADLINE.toNanos();
    int tried = 0;
    for (String name : new java.util.TreeSet<>(ConsumerConfig.configNames())) {
      String key = "kafka." + name;
      List<String> values = new ArrayList<>(Fuzz.hostileValues(random, 40));
      values.add(null);
      for (String value : values) {
        if (System.nanoTime() > deadline) {
          break;
        }
        Map<String, String> properties = base();
        properties.put(key, value);
        tried++;
        check(problems, key, value, "builder", () -> builder(properties).build());
      }
    }
    System.out.println("ConfigFuzzTest: " + tried + " Kafka values tried");
    assertThat(problems.all.keySet()).as("seed %d: %s", seed, problems).isEmpty();
    assertThat(tried).as("seed %d", seed).isGreaterThan(1000);
  }

  @Test
  void typedSettersRefuseHostileDurationsAndNumbersByName() {
    Random random = new Random(seed ^ 0x9e3779b97f4a7c15L);
    Problems problems = new Problems();
    Map<String, java.util.function.BiConsumer<IdemConfig.Builder, Duration>> durations =
        new LinkedHashMap<>();
    durations.put("consumer.lock-timeout", IdemConfig.Builder::lockTimeout);
    durations.put("consumer.handler-timeout", IdemConfig.Builder::handlerTimeout);
    durations.put("consumer.commit-interval", IdemConfig.Builder::commitInterval);
    durations.put("consumer.drain-timeout", IdemConfig.Builder::drainTimeout);
    durations.put("consumer.retention.window", IdemConfig.Builder::retentionWindow);
    durations.put(
        "consumer.retention.topic-check-timeout", IdemConfig.Builder::retentionTopicCheckTimeout);
    durations.put("consumer.read-retry-timeout", IdemConfig.Builder::readRetryTimeout);
    Map<String, java.util.function.BiConsumer<IdemConfig.Builder, Long>> numbers =
        new LinkedHashMap<>();
    numbers.put("consumer.concurrency", (b, n) -> b.concurrency(n.intValue()));
    numbers.put("consumer.max-in-flight", (b, n) -> b.maxInFlight(n.intValue()));
    numbers.put("consumer.max-in-flight-bytes", IdemConfig.Builder::maxInFlightBytes);
    numbers.put(
        "consumer.max-in-flight-per-partition", (b, n) -> b.maxInFlightPerPartition(n.intValue()));
    numbers.put(
        "consumer.max-uncommitted-per-partition",
        (b, n) -> b.maxUncommittedPerPartition(n.intValue()));
    numbers.put("consumer.batch.size", (b, n) -> b.batchSize(n.intValue()));
    numbers.put("consumer.batch.max-locks", (b, n) -> b.batchMaxLocks(n.intValue()));
    int tried = 0;
    for (int i = 0; i < 400; i++) {
      tried += tryTyped(problems, durations, hostileDuration(random));
      tried += tryTyped(problems, numbers, hostileNumber(random));
    }
    System.out.println("ConfigFuzzTest: " + tried + " typed values tried");
    assertThat(problems.all.keySet()).as("seed %d: %s", seed, problems).isEmpty();
  }

  /** Builds with {@code value} through each typed setter; returns how many were tried. */
  private static <V> int tryTyped(
      Problems problems,
      Map<String, java.util.function.BiConsumer<IdemConfig.Builder, V>> setters,
      V value) {
    for (var e : setters.entrySet()) {
      check(
          problems,
          e.getKey(),
          String.valueOf(value),
          "typed",
          () -> {
            IdemConfig.Builder b = builder(base());
            e.getValue().accept(b, value);
            return b.build();
          });
    }
    return setters.size();
  }

  private static Duration hostileDuration(Random random) {
    return switch (random.nextInt(6)) {
      case 0 -> null;
      case 1 -> Duration.ofSeconds(random.nextLong());
      case 2 -> Duration.ofNanos(random.nextLong());
      case 3 -> Duration.ofMillis(random.nextInt(100_000));
      case 4 -> Duration.ofDays(random.nextInt(200_000));
      default -> Duration.ofSeconds(Long.MAX_VALUE, 999_999_999);
    };
  }

  private static long hostileNumber(Random random) {
    return switch (random.nextInt(4)) {
      case 0 -> random.nextLong();
      case 1 -> random.nextInt(20) - 10;
      case 2 -> Integer.MAX_VALUE - random.nextInt(3);
      default -> random.nextInt(2_000_000);
    };
  }

  private static IdemConfig.Builder builder(Map<String, String> properties) {
    IdemConfig.Builder b = IdemConfig.builder(properties.get("consumer.name"));
    properties.forEach(
        (k, v) -> {
          if (!k.equals("consumer.name")) {
            b.set(k, v);
          }
        });
    return b;
  }

  private static void check(
      Problems problems,
      String key,
      String value,
      String path,
      java.util.function.Supplier<IdemConfig> build) {
    String where = path + " " + key + "=" + printable(value);
    IdemConfig config;
    try {
      config = build.get();
    } catch (IdemConfigException e) {
      String message = e.getMessage();
      boolean named =
          key.equals(e.key())
              || message.contains(key)
              || (key.startsWith("kafka.") && message.contains(key.substring(6)));
      if (!named) {
        problems.add("refusal names another key", key, where + " -> " + message);
      } else if (!ADVICE.matcher(message.substring(e.key().length())).find()) {
        problems.add("refusal gives no advice", key, where + " -> " + message);
      }
      return;
    } catch (RuntimeException | Error e) {
      problems.add(e.getClass().getSimpleName(), key, where + " -> " + e);
      return;
    }
    String insane = insanity(config);
    if (insane != null) {
      problems.add("accepted an unusable value", key, where + " -> " + insane);
    }
  }

  /** Why the rest of idem could not use {@code c}, or null. */
  private static String insanity(IdemConfig c) {
    if (c.consumerName().isBlank() || c.consumerName().chars().anyMatch(Character::isISOControl)) {
      return "consumer name " + printable(c.consumerName());
    }
    for (String t : c.topics()) {
      if (!TOPIC.matcher(t).matches() || t.equals(".") || t.equals("..")) {
        return "topic " + printable(t);
      }
      String dlt = c.deadLetterTopicFor(t);
      if (dlt != null
          && (!TOPIC.matcher(dlt).matches() || dlt.equals(t) || c.topics().contains(dlt))) {
        return "dead-letter topic " + printable(dlt) + " for " + t;
      }
    }
    if (c.lockNamespace().isBlank()) {
      return "blank lock namespace";
    }
    for (String id : List.of(c.schema(), c.processedTable(), c.deadLetterTable())) {
      if (!IDENTIFIER.matcher(id).matches()) {
        return "identifier " + printable(id);
      }
    }
    Map<String, Duration> durations = new TreeMap<>();
    durations.put("lock-timeout", c.lockTimeout());
    durations.put("handler-timeout", c.handlerTimeout());
    durations.put("commit-interval", c.commitInterval());
    durations.put("drain-timeout", c.drainTimeout());
    durations.put("poll-timeout", c.pollTimeout());
    durations.put("retention.interval", c.retentionInterval());
    durations.put("retention.topic-check-timeout", c.retentionTopicCheckTimeout());
    durations.put("retry.max-backoff", c.retry().maxBackoff());
    if (c.retentionWindow() != null) {
      durations.put("retention.window", c.retentionWindow());
    }
    for (Map.Entry<String, Duration> d : durations.entrySet()) {
      String problem = durationProblem(d.getValue(), 1);
      if (problem != null) {
        return d.getKey() + " " + d.getValue() + ": " + problem;
      }
    }
    String backoff = durationProblem(c.retry().initialBackoff(), 0);
    if (backoff != null) {
      return "retry.initial-backoff " + c.retry().initialBackoff() + ": " + backoff;
    }
    // PostgreSQL takes lock_timeout, statement_timeout and transaction_timeout in int milliseconds.
    if (c.lockTimeout().plus(c.handlerTimeout()).toMillis() > PG_MAX_MILLIS) {
      return "lock + handler timeout " + c.lockTimeout().plus(c.handlerTimeout());
    }
    if (c.concurrency() < 1 || c.maxInFlight() < 1 || c.maxInFlightBytes() < 1) {
      return "bounds " + c.concurrency() + "/" + c.maxInFlight() + "/" + c.maxInFlightBytes();
    }
    if (c.maxAbandonedWorkers() < 0) {
      return "max abandoned workers " + c.maxAbandonedWorkers();
    }
    if (c.batchSize() < 1 || c.batchMaxLocks() < 1 || c.retentionBatchSize() < 1) {
      return "batch sizes";
    }
    RetryPolicy r = c.retry();
    if (r.maxAttempts() < 1 || !(r.multiplier() >= 1) || Double.isInfinite(r.multiplier())) {
      return "retry " + r;
    }
    for (int attempt = 1; attempt < 40; attempt++) {
      Duration delay = r.delayAfter(attempt);
      if (delay.isNegative() || delay.compareTo(r.maxBackoff()) > 0) {
        return "retry delay " + delay;
      }
    }
    if (c.kafka().values().stream().anyMatch(v -> v == null)) {
      return "null Kafka value";
    }
    IdemConfig.DatabaseSettings db = c.database();
    if (db != null) {
      if (db.poolSize() < c.concurrency() + 2) {
        return "pool size " + db.poolSize();
      }
      try {
        if (org.postgresql.Driver.parseURL(db.url(), null) == null) {
          return "JDBC URL the driver cannot read: " + printable(db.url());
        }
      } catch (RuntimeException e) {
        return "JDBC URL " + printable(db.url()) + ": " + e;
      }
    }
    c.describe();
    return null;
  }

  private static String durationProblem(Duration d, long minMillis) {
    if (d == null || d.isNegative()) {
      return "negative";
    }
    try {
      d.toNanos();
    } catch (ArithmeticException e) {
      return "too long to count in nanoseconds";
    }
    if (d.toNanos() % 1_000_000 != 0) {
      return "a fraction of a millisecond";
    }
    if (d.toMillis() < minMillis) {
      return "shorter than " + minMillis + " ms";
    }
    return null;
  }

  static String printable(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder sb = new StringBuilder("\"");
    String shown = s.length() > 60 ? s.substring(0, 60) + "...(" + s.length() + " chars)" : s;
    for (char ch : shown.toCharArray()) {
      if (ch < 0x20 || ch > 0x7e) {
        sb.append(String.format("\\u%04x", (int) ch));
      } else {
        sb.append(ch);
      }
    }
    return sb.append('"').toString();
  }

  /** Problems grouped by kind, a few examples each. */
  private static final class Problems {
    final Map<String, List<String>> all = new TreeMap<>();

    private final Map<String, Integer> perKey = new java.util.HashMap<>();

    /** Keeps two examples per kind and key, so that every key with a problem shows. */
    void add(String kind, String key, String example) {
      List<String> list = all.computeIfAbsent(kind, k -> new ArrayList<>());
      if (perKey.merge(kind + " " + key, 1, Integer::sum) <= 2) {
        list.add(example);
      }
    }

    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder();
      all.forEach(
          (kind, examples) -> {
            sb.append("\n").append(kind).append(":");
            examples.forEach(e -> sb.append("\n    ").append(e));
          });
      return sb.toString();
    }
  }
}
