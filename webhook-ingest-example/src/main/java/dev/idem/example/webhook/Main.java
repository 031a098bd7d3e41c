package dev.idem.example.webhook;

import dev.idem.IdemException;
import dev.idem.consumer.IdemConfig;
import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.function.IntFunction;

/**
 * Runs the example.
 *
 * <ul>
 *   <li>{@code demo} (default): Kafka and PostgreSQL from {@code KAFKA_BOOTSTRAP_SERVERS} and
 *       {@code PG_URL}, or embedded ones when those are not set; the HTTP server; two consumer
 *       instances; the duplicate storm; the summary. Exit code 0 on PASS, 1 on FAIL.
 *   <li>{@code serve}: the HTTP server and one consumer instance against the configured Kafka and
 *       PostgreSQL, until stopped. The consumer is a static member of its group, named after the
 *       host ({@code instance.id}); the published demo secret is refused.
 * </ul>
 *
 * <p>The configuration file is {@code config/webhook-example.properties} (or {@code
 * EXAMPLE_CONFIG}), with environment overrides.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : System.getenv().getOrDefault("IDEM_MODE", "demo");
    Map<String, String> env = System.getenv();
    Path file = Path.of(env.getOrDefault("EXAMPLE_CONFIG", "config/webhook-example.properties"));
    if (!Files.exists(file)) {
      System.err.println("error: configuration file " + file.toAbsolutePath() + " not found");
      System.exit(2);
    }
    int exit;
    try {
      ExampleConfig config = ExampleConfig.load(file, env);
      exit =
          switch (mode) {
            case "demo" -> demo(config, env);
            case "serve" -> serve(config, env);
            default -> {
              System.err.println("error: unknown mode " + mode + "; use demo or serve");
              yield 2;
            }
          };
    } catch (IdemException e) {
      System.err.println("error: " + e.getMessage());
      exit = 2;
    }
    System.exit(exit);
  }

  private static int demo(ExampleConfig config, Map<String, String> env) throws Exception {
    EmbeddedKafkaBroker broker = null;
    EmbeddedPostgresServer postgres = null;
    try {
      String bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS");
      if (bootstrap == null || bootstrap.isBlank()) {
        System.out.println("starting an embedded Kafka broker");
        broker = EmbeddedKafkaBroker.launch();
        bootstrap = broker.bootstrapServers();
      }
      String pgUrl = env.get("PG_URL");
      String pgUser = env.getOrDefault("PG_USER", "postgres");
      String pgPassword = env.getOrDefault("PG_PASSWORD", "");
      if (pgUrl == null || pgUrl.isBlank()) {
        System.out.println("starting an embedded PostgreSQL");
        postgres = EmbeddedPostgresServer.launch();
        pgUrl = postgres.jdbcUrl();
        pgUser = postgres.user();
        pgPassword = postgres.password();
      }
      // The demo picks a free port unless HTTP_PORT asks for one.
      ExampleConfig demoConfig = env.containsKey("HTTP_PORT") ? config : withPort(config, 0);
      Map<String, String> noEnv = new HashMap<>();
      IdemConfig idem = demoConfig.idemConfig(noEnv, bootstrap, pgUrl, pgUser, pgPassword);
      IntFunction<IdemConfig> instances =
          demoConfig.demoInstances(noEnv, bootstrap, pgUrl, pgUser, pgPassword);
      try (WebhookApplication app =
          WebhookApplication.start(demoConfig, idem, instances, Clock.systemUTC())) {
        Demo.Summary summary =
            new Demo(
                    app,
                    demoConfig.demoEvents(),
                    demoConfig.demoAccounts(),
                    demoConfig.demoSeed(),
                    Demo.newRunId(),
                    System.out)
                .run();
        return summary.pass() ? 0 : 1;
      }
    } finally {
      if (broker != null) {
        broker.close();
      }
      if (postgres != null) {
        postgres.close();
      }
    }
  }

  private static int serve(ExampleConfig config, Map<String, String> env) throws Exception {
    IdemConfig idem = serveConfig(config, env);
    CountDownLatch stop = new CountDownLatch(1);
    try (WebhookApplication app = WebhookApplication.start(config, idem, Clock.systemUTC())) {
      app.startConsumer();
      Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "shutdown"));
      stop.await();
    }
    return 0;
  }

  /**
   * idem's settings for serve mode, from the file and the environment, with the consumer's {@code
   * group.instance.id} (see {@link ExampleConfig#serveInstanceId}). Serve mode listens on every
   * interface, so it refuses the published demo secret unless {@code
   * WEBHOOK_ALLOW_DEMO_SECRET=true}.
   *
   * @throws IdemException when a setting is refused (the demo secret too) or the database is not
   *     configured
   */
  static IdemConfig serveConfig(ExampleConfig config, Map<String, String> env) {
    config.refuseDemoSecretUnlessAllowed();
    IdemConfig idem = config.idemConfig(env, null, null, null, null);
    if (idem.database() == null) {
      throw new IdemException("pg.url is missing (set it or PG_URL)");
    }
    String instanceId = config.serveInstanceId(idem.consumerName(), env);
    return instanceId == null ? idem : config.idemConfig(env, null, null, null, null, instanceId);
  }

  static ExampleConfig withPort(ExampleConfig c, int port) {
    return new ExampleConfig(
        port,
        c.secrets(),
        c.allowDemoSecret(),
        c.maxBodyBytes(),
        c.tolerance(),
        c.primaryTopic(),
        c.replayTopic(),
        c.partitions(),
        c.demoEvents(),
        c.demoAccounts(),
        c.demoSeed(),
        c.instanceId(),
        c.idem());
  }
}
