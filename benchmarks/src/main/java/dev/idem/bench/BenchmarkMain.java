package dev.idem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.TestInfrastructure;
import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The benchmark harness: one workload, every scenario side by side in one run, each consumer in a
 * JVM of its own with {@code -Xmx256m}, the broker and the database outside it.
 *
 * <pre>
 * mvn -B -q -Pbench -pl benchmarks -am -DskipTests package -Dbench.args="--events 1000000"
 * </pre>
 *
 * <p>Options: {@code --events N} (default 1,000,000), {@code --quick} (200,000), {@code --threads
 * T} (4), {@code --partitions P} (4), {@code --batch B} (500), {@code --latency-seconds S} (20),
 * {@code --skip-latency}, {@code --bootstrap HOST:PORT} and {@code --pg-url URL --pg-user U
 * --pg-password P} for given endpoints (embedded otherwise), {@code --out FILE} (default
 * docs/benchmarks.md), {@code --no-docs}. After every scenario it checks that the ledger holds
 * exactly one row per unique event: a fast wrong answer is not a result.
 *
 * <p>Over 400 lines: the whole measurement method (workload, runs, checks, report) in one file, so
 * that a reader can judge the figures without chasing it.
 */
public final class BenchmarkMain {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final List<String> SCENARIOS =
      List.of(
          "raw",
          "naive",
          "idem-record",
          "idem-record-query-check",
          "idem-batch",
          "idem-grouped",
          "idem-record-pg-offsets",
          "idem-batch-pg-offsets",
          "jdbc");

  private BenchmarkMain() {}

  public static void main(String[] args) throws Exception {
    Options o = Options.parse(args);
    Report report = run(o);
    System.out.println(report.text());
    if (o.writeDocs) {
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
      String pgUrl = o.pgUrl;
      String pgUser = o.pgUser;
      String pgPassword = o.pgPassword;
      if (pgUrl == null) {
        postgres = EmbeddedPostgresServer.launch();
        pgUrl = postgres.jdbcUrl();
        pgUser = postgres.user();
        pgPassword = postgres.password();
      }
      ServerCpu servers =
          ServerCpu.of(
              ServerCpu.scope(
                  postgres == null ? 0 : postgres.port(),
                  broker == null ? null : broker.directory().toString()));
      String prefix = TestInfrastructure.uniqueName("bench");
      String topic = prefix + "_events";
      TestInfrastructure.createTopics(bootstrap, o.partitions, Map.of(), topic);
      Workload w = new Workload(o.events, o.partitions);
      System.out.printf(
          "producing %,d records (%,d unique) to %d partitions%n",
          w.events, w.unique, o.partitions);
      produce(bootstrap, topic, w);
      Report report = new Report(describeMachine(pgUrl, pgUser, pgPassword));
      for (String scenario : SCENARIOS) {
        createTables(pgUrl, pgUser, pgPassword, prefix, scenario);
        Settings s =
            new Settings(
                scenario,
                bootstrap,
                topic,
                o.partitions,
                w.events,
                w.unique,
                o.threads,
                o.batch,
                pgUrl,
                pgUser,
                pgPassword,
                prefix,
                0);
        System.out.printf("running %s ...%n", scenario);
        long serverTicks = servers.ticks();
        long startNanos = System.nanoTime();
        JsonNode r = child(s);
        double serverSeconds = ServerCpu.seconds(serverTicks, servers.ticks());
        ((com.fasterxml.jackson.databind.node.ObjectNode) r)
            .put(
                "serverCpu",
                serverSeconds < 0 ? -1 : serverSeconds / ((System.nanoTime() - startNanos) / 1e9));
        String check =
            scenario.equals("raw")
                ? "n/a"
                : verify(pgUrl, pgUser, pgPassword, s.ledger(), w.unique);
        report.add(scenario, r, check);
        System.out.printf(
            "  %s: %,.0f events/s, ledger %s%n",
            scenario, r.get("eventsPerSecond").asDouble(), check);
      }
      if (!o.skipLatency) {
        for (String run : List.of("record:0.5", "record:0.7", "batch:0.5", "batch:0.7")) {
          String mode = run.substring(0, run.indexOf(':'));
          double fraction = Double.parseDouble(run.substring(run.indexOf(':') + 1));
          double max = report.rate("idem-" + mode);
          int rate = (int) Math.max(100, fraction * max);
          int events = rate * o.latencySeconds;
          // Each run its own consumer name and tables: the event ids repeat between runs.
          String runPrefix = prefix + "_" + (int) (fraction * 100);
          String latencyTopic = runPrefix + "_latency_" + mode;
          TestInfrastructure.createTopics(bootstrap, o.partitions, Map.of(), latencyTopic);
          Settings s =
              new Settings(
                  "latency-" + mode,
                  bootstrap,
                  latencyTopic,
                  o.partitions,
                  events,
                  events,
                  o.threads,
                  o.batch,
                  pgUrl,
                  pgUser,
                  pgPassword,
                  runPrefix,
                  rate);
          createTables(pgUrl, pgUser, pgPassword, runPrefix, s.scenario());
          System.out.printf(
              "latency of idem-%s at %,d events/s for %d s ...%n", mode, rate, o.latencySeconds);
          Process p = start(s);
          BufferedReader out =
              new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
          awaitReady(out, s);
          steady(bootstrap, latencyTopic, o.partitions, rate, events);
          JsonNode r = finish(p, out, s);
          report.latency("idem-" + mode + " at " + (int) (fraction * 100) + "%", r);
        }
      }
      return report;
    } finally {
      if (broker != null) {
        broker.close();
      }
      if (postgres != null) {
        postgres.close();
      }
    }
  }

  private static void produce(String bootstrap, String topic, Workload w) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = producer(bootstrap)) {
      for (int i = 0; i < w.events; i++) {
        ProducerRecord<byte[], byte[]> r =
            new ProducerRecord<>(
                topic, w.partition[i], w.account[i].getBytes(StandardCharsets.UTF_8), w.value(i));
        r.headers().add("webhook-id", w.ids[i].getBytes(StandardCharsets.UTF_8));
        producer.send(r);
      }
      producer.flush();
    }
  }

  private static KafkaProducer<byte[], byte[]> producer(String bootstrap) {
    return new KafkaProducer<>(
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
        new ByteArraySerializer());
  }

  /** Produces {@code events} new events at {@code rate} per second, each stamped "sent-at". */
  private static void steady(String bootstrap, String topic, int partitions, int rate, int events)
      throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = producer(bootstrap)) {
      long start = System.nanoTime();
      for (int i = 0; i < events; i++) {
        long due = start + (long) (i * 1e9 / rate);
        long wait = due - System.nanoTime();
        if (wait > 0) {
          TimeUnit.NANOSECONDS.sleep(wait);
        }
        String id = "lat-" + i;
        ProducerRecord<byte[], byte[]> r =
            new ProducerRecord<>(
                topic,
                i % partitions,
                ("acct-" + (i % 1000)).getBytes(StandardCharsets.UTF_8),
                ("acct-" + (i % 1000) + ":1").getBytes(StandardCharsets.UTF_8));
        r.headers().add("webhook-id", id.getBytes(StandardCharsets.UTF_8));
        r.headers()
            .add(
                "sent-at",
                Long.toString(System.currentTimeMillis()).getBytes(StandardCharsets.UTF_8));
        producer.send(r);
      }
      producer.flush();
    }
  }

  private static JsonNode child(Settings s) throws Exception {
    Process p = start(s);
    return finish(
        p,
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)),
        s);
  }

  private static void awaitReady(BufferedReader out, Settings s) throws IOException {
    String line;
    while ((line = out.readLine()) != null) {
      if (line.equals("READY")) {
        return;
      }
    }
    throw new IllegalStateException("scenario " + s.scenario() + " ended before it was ready");
  }

  private static Process start(Settings s) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-XX:+UseG1GC");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(ScenarioMain.class.getName());
    cmd.addAll(List.of(s.toArgs()));
    return new ProcessBuilder(cmd).redirectErrorStream(true).start();
  }

  private static JsonNode finish(Process p, BufferedReader reader, Settings s) throws Exception {
    List<String> lines = new ArrayList<>();
    JsonNode result = null;
    try (BufferedReader out = reader) {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("RESULT ")) {
          result = JSON.readTree(line.substring("RESULT ".length()));
        } else {
          lines.add(line);
          if (lines.size() > 200) {
            lines.remove(0);
          }
        }
      }
    }
    int exit = p.waitFor();
    if (exit != 0 || result == null) {
      throw new IllegalStateException(
          "scenario " + s.scenario() + " failed (exit " + exit + "):\n" + String.join("\n", lines));
    }
    return result;
  }

  private static void createTables(
      String url, String user, String password, String prefix, String scenario)
      throws SQLException {
    String name = prefix + "_" + scenario.replace('-', '_');
    try (Connection c = DriverManager.getConnection(url, user, password);
        Statement s = c.createStatement()) {
      s.execute(
          "CREATE TABLE IF NOT EXISTS "
              + name
              + "_ledger (event_id text NOT NULL,"
              + " account text NOT NULL, amount int NOT NULL)");
      s.execute("CREATE TABLE IF NOT EXISTS " + name + "_processed (event_id text PRIMARY KEY)");
    }
  }

  private static String verify(String url, String user, String password, String ledger, int unique)
      throws SQLException {
    try (Connection c = DriverManager.getConnection(url, user, password);
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*), count(DISTINCT event_id) FROM " + ledger)) {
      rs.next();
      long rows = rs.getLong(1);
      long distinct = rs.getLong(2);
      return rows == unique && distinct == unique
          ? "exact (" + rows + " rows)"
          : "WRONG: " + rows + " rows, " + distinct + " distinct, expected " + unique;
    }
  }

  private static String describeMachine(String url, String user, String password)
      throws SQLException {
    String pg;
    try (Connection c = DriverManager.getConnection(url, user, password);
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

  /** The harness's options. */
  public static final class Options {
    int events = 1_000_000;
    int threads = 4;
    int partitions = 4;
    int batch = 500;
    int latencySeconds = 20;
    boolean skipLatency;
    boolean writeDocs = true;
    String bootstrap;
    String pgUrl;
    String pgUser = "postgres";
    String pgPassword = "";
    Path out = Path.of("docs", "benchmarks.md");

    /** Parses command-line options; refuses unknown ones with a message. */
    public static Options parse(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--quick" -> {
            o.events = 200_000;
            o.latencySeconds = 10;
          }
          case "--events" -> o.events = Integer.parseInt(args[++i]);
          case "--threads" -> o.threads = Integer.parseInt(args[++i]);
          case "--partitions" -> o.partitions = Integer.parseInt(args[++i]);
          case "--batch" -> o.batch = Integer.parseInt(args[++i]);
          case "--latency-seconds" -> o.latencySeconds = Integer.parseInt(args[++i]);
          case "--skip-latency" -> o.skipLatency = true;
          case "--no-docs" -> o.writeDocs = false;
          case "--bootstrap" -> o.bootstrap = args[++i];
          case "--pg-url" -> o.pgUrl = args[++i];
          case "--pg-user" -> o.pgUser = args[++i];
          case "--pg-password" -> o.pgPassword = args[++i];
          case "--out" -> o.out = Path.of(args[++i]);
          default -> throw new IllegalArgumentException("unknown option " + a);
        }
      }
      if (o.events < 10 || o.threads < 1 || o.partitions < 1 || o.batch < 1) {
        throw new IllegalArgumentException(
            "events, threads, partitions and batch must be positive");
      }
      return o;
    }
  }

  /** The results of one run. */
  public static final class Report {
    private final String machine;
    private final Map<String, JsonNode> results = new LinkedHashMap<>();
    private final Map<String, String> checks = new LinkedHashMap<>();
    private final Map<String, JsonNode> latencies = new LinkedHashMap<>();

    Report(String machine) {
      this.machine = machine;
    }

    void add(String scenario, JsonNode r, String check) {
      results.put(scenario, r);
      checks.put(scenario, check);
    }

    void latency(String scenario, JsonNode r) {
      latencies.put(scenario, r);
    }

    /** Events per second of a scenario. */
    public double rate(String scenario) {
      return results.get(scenario).get("eventsPerSecond").asDouble();
    }

    /** Whether every scenario's ledger held exactly one row per unique event. */
    public boolean allVerified() {
      return checks.values().stream().allMatch(c -> c.equals("n/a") || c.startsWith("exact"));
    }

    /** The scenarios run, in order. */
    public List<String> scenarios() {
      return List.copyOf(results.keySet());
    }

    private String row(String scenario, boolean markdown) {
      JsonNode r = results.get(scenario);
      double rate = r.get("eventsPerSecond").asDouble();
      String vsNaive = String.format(Locale.ROOT, "%.2fx", rate / rate("naive"));
      String vsJdbc = String.format(Locale.ROOT, "%.2fx", rate / rate("jdbc"));
      String[] cells = {
        scenario,
        String.format(Locale.ROOT, "%,.0f", rate),
        String.format(Locale.ROOT, "%.0f", r.get("peakHeapMb").asDouble()),
        String.format(Locale.ROOT, "%.2f", r.get("cpu").asDouble()),
        r.has("serverCpu") && r.get("serverCpu").asDouble() >= 0
            ? String.format(Locale.ROOT, "%.2f", r.get("serverCpu").asDouble())
            : "n/a",
        vsNaive,
        vsJdbc,
        checks.get(scenario)
      };
      if (markdown) {
        return "| " + String.join(" | ", cells) + " |";
      }
      return String.format(Locale.ROOT, "%-22s %12s %9s %6s %9s %9s %9s  %s", (Object[]) cells);
    }

    /** The table for a terminal. */
    public String text() {
      StringBuilder sb = new StringBuilder("\n").append(machine).append("\n\n");
      sb.append(
          String.format(
              Locale.ROOT,
              "%-22s %12s %9s %6s %9s %9s %9s  %s%n",
              "scenario",
              "events/s",
              "heap MB",
              "CPU",
              "PG+Kafka",
              "vs naive",
              "vs JDBC",
              "ledger"));
      for (String s : results.keySet()) {
        sb.append(row(s, false)).append('\n');
      }
      latencies.forEach(
          (s, r) ->
              sb.append(
                  String.format(
                      Locale.ROOT,
                      "latency %-12s at %,d events/s: p50 %d ms, p99 %d ms (%d samples)%n",
                      s,
                      r.get("rate").asInt(),
                      r.get("p50Ms").asLong(),
                      r.get("p99Ms").asLong(),
                      r.get("samples").asInt())));
      return sb.toString();
    }

    String markdown(Options o, String args) {
      StringBuilder sb = new StringBuilder();
      sb.append("# Benchmarks\n\n");
      sb.append("Measured ")
          .append(LocalDate.now())
          .append(" on: ")
          .append(machine)
          .append(".\n\n");
      sb.append(
              "Command:\n\n```\nmvn -B -q -Pbench -pl benchmarks -am -DskipTests package"
                  + " -Dbench.args=\"")
          .append(args)
          .append("\"\n```\n\n");
      sb.append(
          String.format(
              Locale.ROOT,
              "Workload: %,d records (%,d unique events, 20%% copies on random partitions), %d"
                  + " partitions, one small ledger insert per new event; %d threads (consumer"
                  + " concurrency, naive-loop consumers, JDBC connections), batch size %d. Each"
                  + " consumer ran in its own JVM with -Xmx256m; the broker and the database ran"
                  + " outside it on the same machine. After each run the ledger was checked to hold"
                  + " exactly one row per unique event.%n%n",
              o.events,
              o.events - o.events / 5,
              o.partitions,
              o.threads,
              o.batch));
      sb.append(
          "| scenario | events/s | peak heap MB | consumer CPU (cores) | PostgreSQL + Kafka CPU"
              + " (cores) | vs naive | vs JDBC ceiling | ledger |\n"
              + "|---|---:|---:|---:|---:|---:|---:|---|\n");
      for (String s : results.keySet()) {
        sb.append(row(s, true)).append('\n');
      }
      sb.append(
          "\nScenarios: **raw** a KafkaConsumer draining the topic, no database (ceiling);"
              + " **naive** the pattern as usually written: per record a transaction with"
              + " `pg_advisory_xact_lock`, a SELECT check, an INSERT mark and the ledger insert, and"
              + " `commitSync` after every poll, one consumer and one connection per thread;"
              + " **idem-record** idem's per-record mode; **idem-batch** idem's batch mode;"
              + " **idem-grouped** the per-record handler with 32 records per transaction"
              + " (`consumer.transaction.max-records=32`, a savepoint per record);"
              + " **idem-record-pg-offsets**, **idem-batch-pg-offsets** the same with"
              + " `consumer.offset-store=postgresql` (each transaction also records its offsets);"
              + " **jdbc** the batch SQL (sorted locks, bulk mark, ledger insert) without Kafka,"
              + " records already in memory (ceiling for the database side).\n");
      sb.append(
          "\n## Where the time of a transaction goes\n\nMeans from idem's own timers"
              + " (`idem.transaction.time`: connection to commit; `idem.lock.wait`: the settings"
              + " and lock statement; `idem.handler.time`: the ledger insert), per transaction (one"
              + " record, or one batch chunk).\n\n| mode | transaction µs | lock statement µs |"
              + " handler µs |\n|---|---:|---:|---:|\n");
      for (String mode :
          List.of("idem-record", "idem-batch", "idem-record-pg-offsets", "idem-batch-pg-offsets")) {
        JsonNode b = results.get(mode) == null ? null : results.get(mode).get("meanMicros");
        if (b != null) {
          sb.append(
              String.format(
                  Locale.ROOT,
                  "| %s | %.0f | %.0f | %.0f |%n",
                  mode,
                  b.path("idem.transaction.time").asDouble(),
                  b.path("idem.lock.wait").asDouble(),
                  b.path("idem.handler.time").asDouble()));
        }
      }
      if (!latencies.isEmpty()) {
        sb.append(
            "\n## Latency under steady load\n\nNew events produced at a steady 50% and 70% of"
                + " the maximum measured above, by the harness on the same two cores; latency is"
                + " from the producer's send to the commit of the transaction that applied the"
                + " event (it includes the broker and the poll).\n\n"
                + "| mode | rate (events/s) | p50 ms | p99 ms | samples |\n|---|---:|---:|---:|---:|\n");
        latencies.forEach(
            (s, r) ->
                sb.append(
                    String.format(
                        Locale.ROOT,
                        "| %s | %,d | %d | %d | %d |%n",
                        s,
                        r.get("rate").asInt(),
                        r.get("p50Ms").asLong(),
                        r.get("p99Ms").asLong(),
                        r.get("samples").asInt())));
      }
      return sb.toString();
    }
  }
}
