package dev.idem.example.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.testkit.Fuzz;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The example's own keys, in a file and through their environment variables, fed hostile values:
 * loading either succeeds with values the application can run with, or fails with an {@link
 * IdemConfigException} that names the key and says what to do. Seeded: see {@link Fuzz}.
 */
class ExampleConfigFuzzTest {
  private static final Path SHIPPED = Path.of("..", "config", "webhook-example.properties");
  private static final Pattern TOPIC = Pattern.compile("(?!\\.\\.?$)[a-zA-Z0-9._-]{1,249}");
  private static final Pattern ADVICE =
      Pattern.compile("\\b(use|write|set|must|remove|give|name|at least|at most|between)\\b");
  private static final List<String> OWN_KEYS =
      List.of(
          "http.port",
          "webhook.secrets",
          "webhook.allow-demo-secret",
          "webhook.max-body-bytes",
          "webhook.tolerance-seconds",
          "topics.primary",
          "topics.replay",
          "topics.partitions",
          "demo.events",
          "demo.accounts",
          "demo.seed",
          "instance.id");

  @Test
  void everyOwnKeyAndEnvironmentOverrideRefusesHostileValuesByName(@TempDir Path dir)
      throws Exception {
    long seed = Fuzz.seed(ExampleConfigFuzzTest.class);
    Random random = new Random(seed);
    Map<String, String> shipped = readProperties(SHIPPED);
    Map<String, String> envNames = new HashMap<>();
    ExampleConfig.ENVIRONMENT.forEach((env, key) -> envNames.put(key, env));
    Map<String, List<String>> problems = new TreeMap<>();
    long deadline = System.nanoTime() + 40_000_000_000L;
    int tried = 0;
    int file = 0;
    for (String key : OWN_KEYS) {
      List<String> values = new ArrayList<>(Fuzz.hostileValues(random, 200));
      values.add("whsec_" + "A".repeat(random.nextInt(3)));
      values.add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,");
      values.add(",,");
      values.add("webhooks,webhooks-replay");
      values.add("webhooks");
      values.add("webhooks-replay");
      for (String value : values) {
        if (System.nanoTime() > deadline) {
          break;
        }
        Map<String, String> props = new LinkedHashMap<>(shipped);
        props.put(key, value);
        Path path = dir.resolve("c" + file++ + ".properties");
        writeProperties(path, props);
        tried++;
        check(problems, key, value, "file", () -> ExampleConfig.load(path, Map.of()));
        String env = envNames.get(key);
        if (env != null) {
          tried++;
          check(problems, key, value, env, () -> ExampleConfig.load(SHIPPED, Map.of(env, value)));
        }
      }
    }
    System.out.println("ExampleConfigFuzzTest: " + tried + " values tried");
    assertThat(problems.keySet()).as("seed %d: %s", seed, describe(problems)).isEmpty();
    assertThat(tried).as("seed %d", seed).isGreaterThan(1000);
  }

  private static void check(
      Map<String, List<String>> problems,
      String key,
      String value,
      String path,
      java.util.function.Supplier<ExampleConfig> load) {
    String where = path + " " + key + "=" + printable(value);
    try {
      ExampleConfig config = load.get();
      String insane = insanity(config);
      if (insane != null) {
        add(problems, "accepted an unusable value", key, where + " -> " + insane);
      }
      try {
        config.idemConfig(Map.of(), "localhost:9092", "jdbc:postgresql://h/db", "u", "p");
      } catch (IdemConfigException e) {
        // Refused when idem's settings are built (a topic too long for its dead-letter topic,
        // say): fine, if the message shows the value that caused it.
        if (!e.getMessage().contains(value.trim())) {
          add(problems, "idem's refusal hides the cause", key, where + " -> " + e.getMessage());
        }
      }
    } catch (IdemConfigException e) {
      if (!key.equals(e.key()) && !e.getMessage().contains(key)) {
        add(problems, "refusal names another key", key, where + " -> " + e.getMessage());
      } else if (!ADVICE.matcher(e.getMessage().substring(key.length())).find()) {
        add(problems, "refusal gives no advice", key, where + " -> " + e.getMessage());
      }
    } catch (RuntimeException | Error e) {
      add(problems, e.getClass().getSimpleName(), key, where + " -> " + e);
    }
  }

  /** Why the application could not run with {@code c}, or null. */
  private static String insanity(ExampleConfig c) {
    if (c.httpPort() < 0 || c.httpPort() > 65535) {
      return "port " + c.httpPort();
    }
    if (c.secrets().isEmpty()) {
      return "no secrets";
    }
    WebhookVerifier verifier = c.verifier(Clock.systemUTC());
    byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
    long now = System.currentTimeMillis() / 1000;
    try {
      verifier.verify("id", Long.toString(now), verifier.sign("id", now, body), body);
    } catch (WebhookRejected e) {
      return "a signature of the first secret does not verify: " + e.getMessage();
    }
    if (c.maxBodyBytes() < 1 || c.maxRecordBytes() < c.maxBodyBytes()) {
      return "body limit " + c.maxBodyBytes();
    }
    if (c.tolerance().isNegative() || c.tolerance().isZero()) {
      return "tolerance " + c.tolerance();
    }
    for (String topic : List.of(c.primaryTopic(), c.replayTopic())) {
      if (!TOPIC.matcher(topic).matches()) {
        return "topic " + printable(topic);
      }
    }
    if (c.primaryTopic().equals(c.replayTopic())) {
      return "one topic for both paths";
    }
    if (c.partitions() < 1 || c.demoEvents() < 1 || c.demoAccounts() < 1) {
      return "counts " + c.partitions() + "/" + c.demoEvents() + "/" + c.demoAccounts();
    }
    IdemConfig idem;
    try {
      idem = c.idemConfig(Map.of(), "localhost:9092", "jdbc:postgresql://h/db", "u", "p");
    } catch (IdemConfigException e) {
      return null; // judged by the caller
    }
    if (!idem.topics().equals(List.of(c.primaryTopic(), c.replayTopic()))) {
      return "the consumer reads " + idem.topics();
    }
    return null;
  }

  private static Map<String, String> readProperties(Path file) throws IOException {
    Properties p = new Properties();
    try (var reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(reader);
    }
    Map<String, String> values = new LinkedHashMap<>();
    p.stringPropertyNames().forEach(k -> values.put(k, p.getProperty(k)));
    return values;
  }

  private static void writeProperties(Path file, Map<String, String> values) throws IOException {
    Properties p = new Properties();
    p.putAll(values);
    // The stream form writes \\uXXXX escapes, so lone surrogates survive the round trip.
    try (OutputStream out = Files.newOutputStream(file)) {
      p.store(out, null);
    }
  }

  private static void add(
      Map<String, List<String>> problems, String kind, String key, String example) {
    List<String> list = problems.computeIfAbsent(kind, k -> new ArrayList<>());
    if (list.stream().filter(e -> e.contains(" " + key + "=")).count() < 2) {
      list.add(example);
    }
  }

  private static String describe(Map<String, List<String>> problems) {
    StringBuilder sb = new StringBuilder();
    problems.forEach(
        (kind, examples) -> {
          sb.append("\n").append(kind).append(":");
          examples.forEach(e -> sb.append("\n    ").append(e));
        });
    return sb.toString();
  }

  private static String printable(String s) {
    StringBuilder sb = new StringBuilder("\"");
    String shown = s.length() > 60 ? s.substring(0, 60) + "...(" + s.length() + " chars)" : s;
    for (char ch : shown.toCharArray()) {
      sb.append(ch < 0x20 || ch > 0x7e ? String.format("\\u%04x", (int) ch) : String.valueOf(ch));
    }
    return sb.append('"').toString();
  }
}
