package dev.idem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.TestInfrastructure;
import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The benchmark harness: one workload, every scenario side by side in one invocation, each consumer
 * in a JVM of its own with {@code -Xmx256m}, the broker and the database outside it.
 *
 * <pre>
 * mvn -B -q -Pbench -pl benchmarks -am -DskipTests package -Dbench.args="--quick"
 * </pre>
 *
 * <p>Options:
 *
 * <ul>
 *   <li>{@code --events N} records (default 1,000,000; 20% of them copies); {@code --quick}:
 *       200,000 and 10 s latency runs;
 *   <li>{@code --runs N} (default 3): every scenario runs N times, interleaved (round 1 runs every
 *       scenario, then round 2, ...), each run with tables and a consumer name of its own; the
 *       table shows the median events/s, the spread, ratios of the medians, and every run's check;
 *   <li>{@code --scenarios a,b,c}: only these (naive and jdbc are always added: every ratio needs
 *       them); unknown names are refused with the list of known ones, {@link #SCENARIOS};
 *   <li>{@code --threads T} (4), {@code --partitions P} (4), {@code --batch B} (500);
 *   <li>{@code --latency-seconds S} (20) per latency run, {@code --skip-latency}: the latency runs
 *       (per record at 50%, grouped and batch at 50% and 70% of their median maximum, with a load
 *       generator in its own JVM);
 *   <li>{@code --profile}: a JFR recording of every consumer and pg_stat_statements of the server,
 *       top entries per scenario run printed and written to {@code --profile-out FILE} (default
 *       target/profile.md); the profilers slow the runs, so a profiled run does not write the docs;
 *   <li>{@code --bootstrap HOST:PORT} and {@code --pg-url URL --pg-user U --pg-password P} for
 *       given endpoints (embedded otherwise; the webhook scenarios drop and create the schema
 *       {@code ledger} there, and refuse one they did not create);
 *   <li>{@code --out FILE} (default docs/benchmarks.md), {@code --no-docs}.
 * </ul>
 *
 * <p>After every run it checks the ledger (exactly one row per unique event; for the webhook
 * scenarios also every balance): a fast wrong answer is not a result, and any wrong run fails the
 * invocation (exit 1).
 */
public final class BenchmarkMain {
  /** Every scenario, in the order of the table. */
  public static final List<String> SCENARIOS =
      List.of(
          "raw",
          "naive",
          "idem-record",
          "idem-record-query-check",
          "idem-batch",
          "idem-record-traced",
          "idem-batch-traced",
          "idem-record-outbox",
          "idem-batch-outbox",
          "idem-grouped",
          "idem-record-pg-offsets",
          "idem-batch-pg-offsets",
          "webhook-record",
          "webhook-grouped",
          "webhook-batch",
          "group-1p",
          "share-1",
          "share-2",
          "share-4",
          "jdbc");

  /** The scenarios that read the one-partition topic: share groups against one group consumer. */
  static boolean onePartition(String scenario) {
    return scenario.equals("group-1p") || scenario.startsWith("share-");
  }

  /**
   * The latency runs: mode, percent of its median maximum, p99 target in ms (issue 15; -1: a
   * diagnostic run without one).
   */
  private record LatencyRun(String mode, int percent, long targetP99Ms) {}

  private static final List<LatencyRun> LATENCY_RUNS =
      List.of(
          new LatencyRun("record", 50, 250),
          new LatencyRun("grouped", 50, 100),
          new LatencyRun("grouped", 70, 250),
          new LatencyRun("batch", 50, 100),
          new LatencyRun("batch", 70, 250),
          // Diagnostic runs without a target: each mode where the machine is not saturated by
          // the generator, the broker's produce path and the consumer together.
          new LatencyRun("record", 25, -1),
          new LatencyRun("grouped", 25, -1),
          new LatencyRun("batch", 25, -1));

  private BenchmarkMain() {}

  public static void main(String[] args) throws Exception {
    Options o = Options.parse(args);
    Report report = run(o);
    System.out.println(report.text());
    if (o.writeDocs && o.profile) {
      System.out.println(
          "profiled run: its figures carry the profilers' cost, " + o.out + " left as it was");
    } else if (o.writeDocs) {
      // The documented --out target/benchmarks.md is relative to the repository root, which has no
      // target folder of its own.
      Path parent = o.out.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      Files.writeString(o.out, report.markdown(o, String.join(" ", args)));
      System.out.println("written to " + o.out);
    }
    System.exit(report.allVerified() ? 0 : 1);
  }

  /** Runs everything; public for the smoke test. */
  public static Report run(Options o) throws Exception {
    EmbeddedKafkaBroker broker = null;
    EmbeddedPostgresServer postgres = null;
    try {
      String bootstrap = o.bootstrap;
      if (bootstrap == null) {
        broker = EmbeddedKafkaBroker.launch();
        bootstrap = broker.bootstrapServers();
      }
      Database db = new Database(o.pgUrl, o.pgUser, o.pgPassword);
      if (o.pgUrl == null) {
        postgres =
            EmbeddedPostgresServer.launch(
                o.profile ? Map.of("shared_preload_libraries", "pg_stat_statements") : Map.of());
        db = new Database(postgres.jdbcUrl(), postgres.user(), postgres.password());
      }
      String servers =
          ServerCpu.scope(
              postgres == null ? 0 : postgres.port(),
              broker == null ? null : broker.directory().toString());
      return new Invocation(o, bootstrap, db, servers).run();
    } finally {
      if (broker != null) {
        broker.close();
      }
      if (postgres != null) {
        postgres.close();
      }
    }
  }

  /** One invocation on running servers: the workloads, the rounds, the latency runs. */
  private static final class Invocation {
    private final Options o;
    private final String bootstrap;
    private final Database db;
    private final String servers;
    private final String prefix = TestInfrastructure.uniqueName("bench");
    private final Workload workload;
    private final WebhookWorkload webhooks;

    Invocation(Options o, String bootstrap, Database db, String servers) {
      this.o = o;
      this.bootstrap = bootstrap;
      this.db = db;
      this.servers = servers;
      this.workload = new Workload(o.events, o.partitions);
      this.webhooks = new WebhookWorkload(workload);
    }

    Report run() throws Exception {
      String topic = prefix + "_events";
      String webhookTopic = prefix + "_webhooks";
      System.out.printf(
          "producing %,d records (%,d unique) to %d partitions%n",
          workload.events, workload.unique, o.partitions);
      TestInfrastructure.createTopics(bootstrap, o.partitions, Map.of(), topic);
      produce(topic, false);
      if (o.scenarios.stream().anyMatch(s -> s.startsWith("webhook-"))) {
        TestInfrastructure.createTopics(bootstrap, o.partitions, Map.of(), webhookTopic);
        produce(webhookTopic, true);
      }
      String onePartitionTopic = prefix + "_events_1p";
      if (o.scenarios.stream().anyMatch(BenchmarkMain::onePartition)) {
        TestInfrastructure.createTopics(bootstrap, 1, Map.of(), onePartitionTopic);
        produce(onePartitionTopic, false, 0);
      }
      Report report = new Report(describeMachine());
      Profiler profiler = o.profile ? new Profiler(db, o.profileOut) : null;
      for (int round = 1; round <= o.runs; round++) {
        for (String scenario : o.scenarios) {
          boolean webhook = scenario.startsWith("webhook-");
          String runPrefix = prefix + "_r" + round;
          Settings s =
              onePartition(scenario)
                  ? settings(scenario, onePartitionTopic, 1, runPrefix, workload.events, 0)
                  : settings(
                      scenario,
                      webhook ? webhookTopic : topic,
                      o.partitions,
                      runPrefix,
                      workload.events,
                      0);
          if (webhook) {
            Ledgers.resetWebhookLedger(db);
          } else {
            Ledgers.createTables(db, runPrefix, scenario);
          }
          String run = scenario + "-run" + round;
          System.out.printf("running %s (run %d of %d) ...%n", scenario, round, o.runs);
          List<String> jvm = List.of();
          if (profiler != null) {
            jvm = profiler.jvmOptions(run);
          }
          JsonNode r = Children.run(ScenarioMain.class, s, jvm);
          if (profiler != null) {
            profiler.afterScenario(run, r, workload.events);
          }
          String check =
              scenario.equals("raw")
                  ? "n/a"
                  : webhook
                      ? Ledgers.verifyWebhooks(db, webhooks)
                      : Ledgers.verify(db, s.ledger(), workload.unique);
          report.add(scenario, r, check);
          System.out.printf(
              "  %s: %,.0f events/s, %.1f µs consumer CPU per event, ledger %s%n",
              scenario,
              r.get("eventsPerSecond").asDouble(),
              r.get("cpuMicrosPerEvent").asDouble(),
              check);
        }
      }
      if (profiler != null) {
        profiler.write();
      }
      if (!o.skipLatency) {
        for (LatencyRun l : LATENCY_RUNS) {
          latency(report, l);
        }
      }
      return report;
    }

    private Settings settings(
        String scenario, String topic, String runPrefix, int events, int rate) {
      return settings(scenario, topic, o.partitions, runPrefix, events, rate);
    }

    private Settings settings(
        String scenario, String topic, int partitions, String runPrefix, int events, int rate) {
      return new Settings(
          scenario,
          bootstrap,
          topic,
          partitions,
          events,
          scenario.startsWith("latency-") ? events : workload.unique,
          o.threads,
          o.batch,
          db.url(),
          db.user(),
          db.password(),
          runPrefix,
          rate,
          servers);
    }

    /**
     * One latency run: the consumer starts and says READY once it owns every partition, then the
     * load generator (a JVM of its own) produces the steady load; the consumer ends when it has
     * applied every event.
     */
    private void latency(Report report, LatencyRun l) throws Exception {
      String scenario = "idem-" + l.mode();
      if (!o.scenarios.contains(scenario)) {
        System.out.printf("latency of %s skipped: not among --scenarios%n", scenario);
        return;
      }
      int rate = (int) Math.max(100, l.percent() / 100.0 * report.rate(scenario));
      int events = LoadMain.events(rate, o.latencySeconds);
      // Each run its own topic, consumer name and tables: the event ids repeat between runs.
      String runPrefix = prefix + "_lat" + l.percent();
      String topic = runPrefix + "_" + l.mode();
      TestInfrastructure.createTopics(bootstrap, o.partitions, Map.of(), topic);
      Settings s = settings("latency-" + l.mode(), topic, runPrefix, events, rate);
      Ledgers.createTables(db, runPrefix, s.scenario());
      System.out.printf(
          "latency of %s at %d%% (%,d events/s) for %d s after %d s of warm-up ...%n",
          scenario, l.percent(), rate, o.latencySeconds, LoadMain.WARMUP_SECONDS);
      Children.Child consumer = Children.start(ScenarioMain.class, s, List.of());
      Children.awaitReady(consumer);
      JsonNode load = Children.run(LoadMain.class, s, List.of());
      JsonNode r = Children.finish(consumer);
      String check = Ledgers.verify(db, s.ledger(), events);
      report.latency(new Report.Latency(l.mode(), l.percent(), r, load, l.targetP99Ms(), check));
      System.out.printf(
          "  p50 %d ms, p99 %d ms (first half %d, second half %d), p99.9 %d ms, max %d ms"
              + " (%d samples; sent %,.0f/s), ledger %s%n",
          r.get("p50Ms").asLong(),
          r.get("p99Ms").asLong(),
          r.get("p99FirstHalfMs").asLong(),
          r.get("p99SecondHalfMs").asLong(),
          r.get("p999Ms").asLong(),
          r.get("maxMs").asLong(),
          r.get("samples").asInt(),
          load.get("sentPerSecond").asDouble(),
          check);
    }

    /**
     * Produces the workload once; every run reads it again. The synthetic records go to their
     * random partitions; the webhooks are keyed by account and partitioned by key.
     */
    private void produce(String topic, boolean asWebhooks) {
      produce(topic, asWebhooks, null);
    }

    /** The workload to {@code topic}; every record to {@code partition} when it is not null. */
    private void produce(String topic, boolean asWebhooks, Integer partition) {
      try (KafkaProducer<byte[], byte[]> producer =
          new KafkaProducer<>(
              Map.of(
                  ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                  bootstrap,
                  ProducerConfig.LINGER_MS_CONFIG,
                  10,
                  ProducerConfig.BATCH_SIZE_CONFIG,
                  256 * 1024,
                  ProducerConfig.ACKS_CONFIG,
                  "all"),
              new ByteArraySerializer(),
              new ByteArraySerializer())) {
        Workload w = workload;
        for (int i = 0; i < w.events; i++) {
          ProducerRecord<byte[], byte[]> r;
          if (asWebhooks) {
            int n = w.event[i];
            r =
                new ProducerRecord<>(
                    topic,
                    null,
                    WebhookWorkload.account(n).getBytes(StandardCharsets.UTF_8),
                    WebhookWorkload.payload(n));
            r.headers()
                .add(
                    "webhook-timestamp",
                    Long.toString(1_767_225_600L + n).getBytes(StandardCharsets.UTF_8));
          } else {
            r =
                new ProducerRecord<>(
                    topic,
                    partition != null ? partition : w.partition[i],
                    w.account[i].getBytes(StandardCharsets.UTF_8),
                    w.value(i));
          }
          r.headers().add("webhook-id", w.ids[i].getBytes(StandardCharsets.UTF_8));
          producer.send(r);
        }
        producer.flush();
      }
    }

    private String describeMachine() throws SQLException {
      String pg;
      try (Connection c = db.connect();
          Statement s = c.createStatement();
          ResultSet rs =
              s.executeQuery(
                  "SELECT current_setting('server_version'), current_setting('fsync'),"
                      + " current_setting('synchronous_commit')")) {
        rs.next();
        pg =
            "PostgreSQL "
                + rs.getString(1)
                + " (fsync="
                + rs.getString(2)
                + ", synchronous_commit="
                + rs.getString(3)
                + ")";
      }
      long memGb =
          ((com.sun.management.OperatingSystemMXBean)
                      java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                  .getTotalMemorySize()
              / (1024L * 1024 * 1024);
      return Runtime.getRuntime().availableProcessors()
          + " cores, "
          + memGb
          + " GiB, "
          + System.getProperty("os.name")
          + " "
          + System.getProperty("os.arch")
          + "; Java "
          + System.getProperty("java.version")
          + "; Kafka 4.3.1 (KRaft, one node); "
          + pg;
    }
  }
}
