package dev.idem.example.webhook;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntFunction;
import java.util.regex.Pattern;

/**
 * The example's settings: its own keys ({@code http.*}, {@code webhook.*}, {@code topics.*}, {@code
 * demo.*}, {@code instance.id}) and idem's ({@code consumer.*}, {@code kafka.*}, {@code pg.*}),
 * from {@code config/webhook-example.properties} with environment overrides. Every key is
 * documented in that file.
 *
 * @param httpPort the HTTP port (0: any free port)
 * @param secrets the accepted signing secrets ({@code whsec_...}), first one used to sign in demos
 * @param allowDemoSecret whether serve mode may accept the published {@link #DEMO_SECRET}
 * @param maxBodyBytes the largest accepted body
 * @param tolerance the accepted clock difference of {@code webhook-timestamp}
 * @param primaryTopic the topic of {@code POST /webhooks}
 * @param replayTopic the topic of {@code POST /replay/webhooks}, the second ingest path
 * @param partitions partitions of topics the example creates
 * @param demoEvents unique webhooks the demo sends
 * @param demoAccounts accounts the demo's events spread over
 * @param demoSeed the demo's random seed
 * @param instanceId {@code auto}, {@code off} or the base of the consumers' {@code
 *     group.instance.id} (Kafka static membership); see {@link #serveInstanceId} and {@link
 *     #demoInstanceId}
 * @param idem idem's settings, without Kafka and database endpoints in demo mode (filled later)
 *     <p>Over 400 lines: one record of the example's settings, each with its parsing, default and
 *     check, so that a reader finds every key of {@code config/webhook-example.properties} in one
 *     place.
 */
public record ExampleConfig(
    int httpPort,
    List<String> secrets,
    boolean allowDemoSecret,
    int maxBodyBytes,
    Duration tolerance,
    String primaryTopic,
    String replayTopic,
    int partitions,
    int demoEvents,
    int demoAccounts,
    long demoSeed,
    String instanceId,
    Map<String, String> idem) {

  /** Environment variables with short names for the example's own keys. */
  static final Map<String, String> ENVIRONMENT =
      Map.of(
          "HTTP_PORT", "http.port",
          "WEBHOOK_SECRETS", "webhook.secrets",
          "WEBHOOK_ALLOW_DEMO_SECRET", "webhook.allow-demo-secret",
          "WEBHOOK_MAX_BODY_BYTES", "webhook.max-body-bytes",
          "DEMO_EVENTS", "demo.events",
          "DEMO_SEED", "demo.seed",
          "INSTANCE_ID", "instance.id");

  /**
   * The secret of the shipped file, the README and the compose file: the Standard Webhooks
   * specification's example secret. Anyone can sign webhooks with it.
   */
  static final String DEMO_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  private static final Pattern TOPIC = Pattern.compile("(?!\\.\\.?$)[a-zA-Z0-9._-]{1,249}");
  private static final List<String> OWN_PREFIXES =
      List.of("http.", "webhook.", "topics.", "demo.", "instance.");
  private static final String GROUP_INSTANCE_ID = "kafka.group.instance.id";
  // Room for the demo's "-<n>" within Kafka's 249 characters.
  private static final Pattern INSTANCE_ID = Pattern.compile("(?!\\.\\.?$)[a-zA-Z0-9._-]{1,240}");

  public ExampleConfig {
    secrets = List.copyOf(secrets);
    idem = Map.copyOf(idem);
  }

  /** Loads a file and applies the environment. */
  public static ExampleConfig load(Path file, Map<String, String> environment) {
    Map<String, String> values = new LinkedHashMap<>(IdemConfig.readFile(file));
    ENVIRONMENT.forEach(
        (env, key) -> {
          String v = environment.get(env);
          if (v != null && !v.isBlank()) {
            values.put(key, v);
          }
        });
    Map<String, String> own = new TreeMap<>();
    Map<String, String> idem = new LinkedHashMap<>();
    values.forEach(
        (k, v) -> {
          if (OWN_PREFIXES.stream().anyMatch(k::startsWith)) {
            own.put(k, v);
          } else {
            idem.put(k, v);
          }
        });
    // Unknown own keys are refused like idem's.
    for (String key : own.keySet()) {
      if (!KNOWN.contains(key)) {
        throw new IdemConfigException(
            key, "unknown setting; see config/webhook-example.properties");
      }
    }
    String primary = topic(own, "topics.primary", "webhooks");
    String replay = topic(own, "topics.replay", "webhooks-replay");
    if (primary.equals(replay)) {
      throw new IdemConfigException("topics.replay", "must differ from topics.primary");
    }
    idem.put("consumer.topics", primary + "," + replay);
    List<String> secrets =
        Arrays.stream(own.getOrDefault("webhook.secrets", "").split(","))
            .map(String::trim)
            .filter(s -> !s.isEmpty())
            .toList();
    if (secrets.isEmpty()) {
      throw new IdemConfigException(
          "webhook.secrets", "is missing; set it (or WEBHOOK_SECRETS) to whsec_... secrets");
    }
    ExampleConfig config =
        new ExampleConfig(
            integer(own, "http.port", 8080, 0, 65535),
            secrets,
            bool(own, "webhook.allow-demo-secret", false),
            integer(own, "webhook.max-body-bytes", 1024 * 1024, 1, 64 * 1024 * 1024),
            Duration.ofSeconds(
                integer(
                    own,
                    "webhook.tolerance-seconds",
                    (int) WebhookVerifier.DEFAULT_TOLERANCE.toSeconds(),
                    1,
                    86_400)),
            primary,
            replay,
            integer(own, "topics.partitions", 4, 1, 1000),
            integer(own, "demo.events", 10_000, 1, 10_000_000),
            integer(own, "demo.accounts", 200, 1, 1_000_000),
            seed(own.getOrDefault("demo.seed", "20261121")),
            instanceId(own.getOrDefault("instance.id", "auto")),
            idem);
    try {
      config.verifier(java.time.Clock.systemUTC());
    } catch (IllegalArgumentException e) {
      throw new IdemConfigException(
          "webhook.secrets",
          e.getMessage() + "; write each secret as whsec_ and the key in base64");
    }
    return config;
  }

  private static final List<String> KNOWN =
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

  /** The settings for the start-up log, secrets masked. */
  public String withoutSecrets() {
    return "http.port="
        + httpPort
        + ", webhook.secrets="
        + secrets.size()
        + " x ****"
        + ", webhook.allow-demo-secret="
        + allowDemoSecret
        + ", webhook.max-body-bytes="
        + maxBodyBytes
        + ", webhook.tolerance-seconds="
        + tolerance.toSeconds()
        + ", topics.primary="
        + primaryTopic
        + ", topics.replay="
        + replayTopic
        + ", topics.partitions="
        + partitions;
  }

  /**
   * Refuses the published {@link #DEMO_SECRET} among the accepted secrets unless {@code
   * webhook.allow-demo-secret} is true. Serve mode calls it: it listens on every interface, where a
   * webhook signed with a secret everyone knows could be anyone's.
   *
   * @throws IdemConfigException on {@code webhook.secrets}, naming the secret's position (never its
   *     value) and both fixes
   */
  public void refuseDemoSecretUnlessAllowed() {
    if (allowDemoSecret) {
      return;
    }
    int position = verifier(java.time.Clock.systemUTC()).positionOfKey(DEMO_SECRET);
    if (position > 0) {
      throw new IdemConfigException(
          "webhook.secrets",
          "secret #"
              + position
              + " is the published demo secret (in the README, the shipped configuration and the"
              + " Standard Webhooks specification): anyone could sign webhooks this server accepts;"
              + " generate a secret, e.g. echo whsec_$(openssl rand -base64 32), and set it in"
              + " WEBHOOK_SECRETS (give the sender the same one), or set"
              + " WEBHOOK_ALLOW_DEMO_SECRET=true for a local trial");
    }
  }

  /** The verifier for the configured secrets. */
  public WebhookVerifier verifier(java.time.Clock clock) {
    return new WebhookVerifier(secrets, clock, tolerance);
  }

  /** idem's configuration with the given endpoints filled in (null keeps the configured ones). */
  public IdemConfig idemConfig(
      Map<String, String> environment,
      String bootstrapServers,
      String pgUrl,
      String pgUser,
      String pgPassword) {
    return idemConfig(environment, bootstrapServers, pgUrl, pgUser, pgPassword, null);
  }

  /**
   * idem's configuration with the given endpoints filled in (null keeps the configured ones), for a
   * consumer instance with {@code groupInstanceId} (null: dynamic membership).
   *
   * @throws IdemConfigException when {@code kafka.group.instance.id} is set directly: the example
   *     derives one per consumer instance from {@code instance.id}
   */
  public IdemConfig idemConfig(
      Map<String, String> environment,
      String bootstrapServers,
      String pgUrl,
      String pgUser,
      String pgPassword,
      String groupInstanceId) {
    if (idem.containsKey(GROUP_INSTANCE_ID)
        || environment.containsKey("IDEM_KAFKA_GROUP_INSTANCE_ID")) {
      throw new IdemConfigException(
          GROUP_INSTANCE_ID,
          "is derived by the example, one per consumer instance; remove it and set instance.id"
              + " (INSTANCE_ID) instead");
    }
    Map<String, String> values = new LinkedHashMap<>(idem);
    IdemConfig.Builder builder = IdemConfig.fromProperties(values, environment);
    if (groupInstanceId != null) {
      builder.kafka("group.instance.id", groupInstanceId);
    }
    if (bootstrapServers != null) {
      builder.bootstrapServers(bootstrapServers);
    }
    if (pgUrl != null) {
      builder.set("pg.url", pgUrl).set("pg.user", pgUser).set("pg.password", pgPassword);
    }
    return builder.build();
  }

  /**
   * The {@code group.instance.id} of serve mode's consumer, or null for dynamic membership: with
   * {@code instance.id=auto}, the host name ({@code HOSTNAME}, else the machine's name) and the
   * consumer name, such as {@code app-7f3c-ledger}, which stays the same when the process restarts
   * on that host; with {@code off}, null; otherwise {@code instance.id} itself.
   *
   * @throws IdemConfigException on {@code instance.id} when {@code auto} finds no host name
   */
  public String serveInstanceId(String consumerName, Map<String, String> environment) {
    return switch (instanceId) {
      case "off" -> null;
      case "auto" -> kafkaId(hostName(environment) + "-" + consumerName);
      default -> instanceId;
    };
  }

  /**
   * The {@code group.instance.id} of the demo's {@code n}-th consumer instance (from 1) in this
   * JVM: {@code instance.id} and {@code -n}, so that the instances never share one. Null (dynamic
   * membership) for {@code auto} and {@code off}: the demo's third instance leaves mid-storm, and a
   * static member that leaves holds its partitions until its session times out.
   */
  public String demoInstanceId(int n) {
    return instanceId.equals("auto") || instanceId.equals("off") ? null : instanceId + "-" + n;
  }

  /**
   * The settings of the demo's consumer instances: {@code n} (from 1) gives {@link #idemConfig(Map,
   * String, String, String, String, String) idemConfig} with {@link #demoInstanceId(int)
   * demoInstanceId(n)}.
   */
  public IntFunction<IdemConfig> demoInstances(
      Map<String, String> environment,
      String bootstrapServers,
      String pgUrl,
      String pgUser,
      String pgPassword) {
    return n ->
        idemConfig(environment, bootstrapServers, pgUrl, pgUser, pgPassword, demoInstanceId(n));
  }

  private static String hostName(Map<String, String> environment) {
    String host = environment.get("HOSTNAME");
    if (host != null && !host.isBlank()) {
      return host.trim();
    }
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      throw new IdemConfigException(
          "instance.id",
          "auto derives the id from the host name, and neither HOSTNAME nor the machine's name is"
              + " known ("
              + e.getMessage()
              + "); set INSTANCE_ID to an id of this instance's own, or off");
    }
  }

  /** {@code raw} with what Kafka refuses in an id replaced, cut to Kafka's 249 characters. */
  private static String kafkaId(String raw) {
    String id = raw.replaceAll("[^a-zA-Z0-9._-]", "_");
    return id.length() > 249 ? id.substring(0, 249) : id;
  }

  private static String instanceId(String raw) {
    String value = raw.trim();
    if (value.equalsIgnoreCase("auto") || value.equalsIgnoreCase("off")) {
      return value.toLowerCase(java.util.Locale.ROOT);
    }
    if (!INSTANCE_ID.matcher(value).matches()) {
      throw new IdemConfigException(
          "instance.id",
          "'"
              + raw
              + "' is not usable; use auto, off, or an id of 1 to 240 of a-z A-Z 0-9 . _ - (not ."
              + " or ..)");
    }
    return value;
  }

  /**
   * Room for key and headers on top of the largest body: the producer's {@code max.request.size}
   * and the topics' {@code max.message.bytes} are set to body limit + this.
   */
  public static final int RECORD_HEADROOM_BYTES = 64 * 1024;

  /** The producer's {@code max.request.size} and the topics' {@code max.message.bytes}. */
  public int maxRecordBytes() {
    return maxBodyBytes + RECORD_HEADROOM_BYTES;
  }

  private static int integer(Map<String, String> own, String key, int def, int min, int max) {
    String raw = own.get(key);
    if (raw == null) {
      return def;
    }
    try {
      int v = Integer.parseInt(raw.trim());
      if (v < min || v > max) {
        throw new IdemConfigException(key, v + " is out of range; use " + min + " to " + max);
      }
      return v;
    } catch (NumberFormatException e) {
      throw new IdemConfigException(
          key, "'" + raw + "' is not a whole number; use " + min + " to " + max);
    }
  }

  /**
   * A topic name Kafka accepts. Checked here, under the example's key: the names are joined with a
   * comma into {@code consumer.topics}, so a comma or a blank would silently change what the
   * consumer reads.
   */
  private static String topic(Map<String, String> own, String key, String def) {
    String raw = own.getOrDefault(key, def).trim();
    if (!TOPIC.matcher(raw).matches()) {
      throw new IdemConfigException(
          key,
          "'"
              + raw
              + "' is not a Kafka topic name; use 1 to 249 of a-z A-Z 0-9 . _ - (not . or ..)");
    }
    return raw;
  }

  private static boolean bool(Map<String, String> own, String key, boolean def) {
    String raw = own.get(key);
    if (raw == null) {
      return def;
    }
    return switch (raw.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default ->
          throw new IdemConfigException(
              key, "'" + raw + "' is not true or false; use true or false");
    };
  }

  private static long seed(String raw) {
    try {
      return Long.parseLong(raw.trim());
    } catch (NumberFormatException e) {
      throw new IdemConfigException(
          "demo.seed", "'" + raw + "' is not a whole number; use any 64-bit integer");
    }
  }
}
