package dev.idem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The results of one invocation: every run of every scenario, reduced to one row per scenario
 * (medians over the runs, the spread of events/s, the check of every run), and the latency runs.
 *
 * <p>The figures and the text that says how they were measured are written here together, so that
 * they cannot drift apart.
 */
public final class Report {
  private final String machine;
  private final Map<String, List<Run>> runs = new LinkedHashMap<>();
  private final List<Latency> latencies = new ArrayList<>();

  /** One run of a scenario: the child's result and the ledger check. */
  record Run(JsonNode result, String check) {}

  /**
   * One latency run: the mode, the fraction of its median maximum (percent), the consumer's and the
   * load generator's results, the p99 target in milliseconds, and the ledger check.
   */
  record Latency(
      String mode, int percent, JsonNode consumer, JsonNode load, long targetP99Ms, String check) {}

  Report(String machine) {
    this.machine = machine;
  }

  void add(String scenario, JsonNode result, String check) {
    runs.computeIfAbsent(scenario, k -> new ArrayList<>()).add(new Run(result, check));
  }

  void latency(Latency l) {
    latencies.add(l);
  }

  /** The median events per second of a scenario over its runs. */
  public double rate(String scenario) {
    return median(scenario, r -> r.get("eventsPerSecond").asDouble());
  }

  /** Whether every run's ledger, latency runs included, passed its check. */
  public boolean allVerified() {
    return runs.values().stream().flatMap(List::stream).allMatch(r -> passed(r.check()))
        && latencies.stream().allMatch(l -> passed(l.check()));
  }

  /** The scenarios run, in order. */
  public List<String> scenarios() {
    return List.copyOf(runs.keySet());
  }

  /** How many runs a scenario had. */
  public int runs(String scenario) {
    return runs.getOrDefault(scenario, List.of()).size();
  }

  private static boolean passed(String check) {
    return check.equals("n/a") || check.startsWith("exact");
  }

  private double median(String scenario, ToDoubleFunction<JsonNode> field) {
    return median(runs.get(scenario).stream().mapToDouble(r -> field.applyAsDouble(r.result())));
  }

  /** The median (the mean of the middle two for an even count); NaN for none. */
  static double median(java.util.stream.DoubleStream values) {
    double[] v = values.sorted().toArray();
    if (v.length == 0) {
      return Double.NaN;
    }
    int mid = v.length / 2;
    return v.length % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }

  /** Half the range as a percentage of the median: "±x%" says how far the runs were apart. */
  static double spreadPercent(double[] values) {
    double median = median(Arrays.stream(values));
    double min = Arrays.stream(values).min().orElse(Double.NaN);
    double max = Arrays.stream(values).max().orElse(Double.NaN);
    return (max - min) / 2 / median * 100;
  }

  private String[] cells(String scenario) {
    List<Run> rs = runs.get(scenario);
    double[] rates =
        rs.stream().mapToDouble(r -> r.result().get("eventsPerSecond").asDouble()).toArray();
    double rate = rate(scenario);
    double min = Arrays.stream(rates).min().orElseThrow();
    double max = Arrays.stream(rates).max().orElseThrow();
    double server = median(scenario, r -> r.path("serverMicrosPerEvent").asDouble(-1));
    double steady = median(scenario, r -> r.path("steadyCpuMicrosPerEvent").asDouble(-1));
    double heap =
        rs.stream().mapToDouble(r -> r.result().get("peakHeapMb").asDouble()).max().orElseThrow();
    return new String[] {
      scenario,
      fmt("%,.0f", rate),
      rs.size() == 1 ? "-" : fmt("%,.0f-%,.0f", min, max),
      rs.size() == 1 ? "-" : fmt("±%.1f%%", spreadPercent(rates)),
      runs.containsKey("naive") ? fmt("%.2fx", rate / rate("naive")) : "n/a",
      runs.containsKey("jdbc") ? fmt("%.2fx", rate / rate("jdbc")) : "n/a",
      fmt("%.1f", median(scenario, r -> r.get("cpuMicrosPerEvent").asDouble())),
      steady < 0 ? "-" : fmt("%.1f", steady),
      server < 0 ? "n/a" : fmt("%.1f", server),
      fmt("%.0f", heap),
      checks(rs)
    };
  }

  /** The checks of all runs: one text if they agree, else each run's. */
  private static String checks(List<Run> rs) {
    if (rs.stream().map(Run::check).distinct().count() == 1) {
      String c = rs.get(0).check();
      if (rs.size() == 1 || c.equals("n/a")) {
        return c;
      }
      return c + (rs.size() == 2 ? " in both runs" : " in all " + rs.size() + " runs");
    }
    List<String> each = new ArrayList<>();
    for (int i = 0; i < rs.size(); i++) {
      each.add("run " + (i + 1) + ": " + rs.get(i).check());
    }
    return String.join("; ", each);
  }

  private static String fmt(String format, Object... args) {
    return String.format(Locale.ROOT, format, args);
  }

  private static final String TEXT_ROW = "%-24s %9s %15s %7s %8s %8s %9s %9s %9s %5s  %s%n";

  /** The tables for a terminal. */
  public String text() {
    StringBuilder sb = new StringBuilder("\n").append(machine).append("\n\n");
    sb.append(
        fmt(
            TEXT_ROW,
            "scenario",
            "events/s",
            "min-max",
            "spread",
            "vs naive",
            "vs JDBC",
            "µs CPU/ev",
            "2nd half",
            "µs srv/ev",
            "heap",
            "ledger"));
    for (String s : runs.keySet()) {
      sb.append(fmt(TEXT_ROW, (Object[]) cells(s)));
    }
    sb.append(
        "(events/s: median of the runs; spread: half the min-max range as % of the median;"
            + " µs CPU/ev: consumer JVM CPU per record; 2nd half: the same over the second half"
            + " of the records, once warmed up; µs srv/ev: PostgreSQL + Kafka CPU per"
            + " record; heap: peak MB over the runs)\n");
    sb.append(shareComparison());
    if (!latencies.isEmpty()) {
      sb.append('\n');
      String row = "%-26s %9s %9s %7s %7s %7s %7s %8s %10s %6s %6s %6s  %s%n";
      sb.append(
          fmt(
              row,
              "latency",
              "rate/s",
              "sent/s",
              "p50 ms",
              "p99 ms",
              "p99.9",
              "max ms",
              "samples",
              "p99 target",
              "cons",
              "load",
              "srv",
              "ledger"));
      for (Latency l : latencies) {
        sb.append(fmt(row, (Object[]) latencyCells(l)));
      }
    }
    return sb.toString();
  }

  private static String[] latencyCells(Latency l) {
    JsonNode c = l.consumer();
    long p99 = c.get("p99Ms").asLong();
    return new String[] {
      "idem-" + l.mode() + " at " + l.percent() + "%",
      fmt("%,d", c.get("rate").asInt()),
      fmt("%,.0f", l.load().get("sentPerSecond").asDouble()),
      Long.toString(c.get("p50Ms").asLong()),
      Long.toString(p99),
      Long.toString(c.get("p999Ms").asLong()),
      Long.toString(c.get("maxMs").asLong()),
      Integer.toString(c.get("samples").asInt()),
      l.targetP99Ms() < 0
          ? "-"
          : "≤ " + l.targetP99Ms() + (p99 >= 0 && p99 <= l.targetP99Ms() ? " met" : " missed"),
      fmt("%.2f", c.path("cpu").asDouble()),
      fmt("%.2f", l.load().path("cpuCores").asDouble()),
      c.path("serverCores").asDouble(-1) < 0
          ? "n/a"
          : fmt("%.2f", c.path("serverCores").asDouble()),
      l.check()
    };
  }

  /**
   * Share groups against one consumer-group consumer on the same one-partition topic, when both
   * ran: the rate of each share row as a multiple of group-1p's, and the consumer's CPU.
   */
  String shareComparison() {
    if (!runs.containsKey("group-1p")) {
      return "";
    }
    double group = rate("group-1p");
    StringBuilder sb = new StringBuilder("\nOne partition, share group vs consumer group:");
    for (String s : runs.keySet()) {
      if (s.startsWith("share-")) {
        sb.append(
            fmt(
                " %s (%s instance%s) %.2fx group-1p, %,.0f events/s;",
                s,
                s.substring("share-".length()),
                s.equals("share-1") ? "" : "s",
                rate(s) / group,
                rate(s)));
      }
    }
    return sb.append(" group-1p ").append(fmt("%,.0f", group)).append(" events/s\n").toString();
  }

  /** The page docs/benchmarks.md: method, table, notes, latency. */
  String markdown(Options o, String args) {
    StringBuilder sb = new StringBuilder();
    sb.append("# Benchmarks\n\n");
    sb.append(
        "To measure on your machine, the quick run (200,000 records, every scenario three times,"
            + " about 25 minutes on 2 cores):\n\n```\nmvn -B -q -Pbench -pl benchmarks -am"
            + " -DskipTests package -Dbench.args=\"--quick --out target/benchmarks.md\"\n```\n\n"
            + "Options (scenarios, runs, profiling, given servers) are in the javadoc of"
            + " `BenchmarkMain`; the analysis is in [performance.md](performance.md). The"
            + " figures below are from the run of the command under them.\n\n");
    sb.append("Measured ").append(LocalDate.now()).append(" on: ").append(machine).append(".\n\n");
    sb.append(
            "Command:\n\n```\nmvn -B -q -Pbench -pl benchmarks -am -DskipTests package"
                + " -Dbench.args=\"")
        .append(args)
        .append("\"\n```\n\n");
    sb.append(
        fmt(
            "Workload: %,d records (%,d unique events, 20%% copies on random partitions), %d"
                + " partitions, one small ledger insert per new event; %d threads (consumer"
                + " concurrency, naive-loop consumers, JDBC connections), batch size %d. The webhook"
                + " scenarios read a second topic with the same events and copies as payment"
                + " webhooks of the example (%,d bytes of JSON each, %d accounts, keyed and"
                + " partitioned by account as the example's publisher does, so a copy lands in its"
                + " original's partition).%n%n",
            o.events,
            o.events - o.events / 5,
            o.partitions,
            o.threads,
            o.batch,
            WebhookWorkload.PAYLOAD_BYTES,
            WebhookWorkload.ACCOUNTS));
    sb.append(
        fmt(
            "Method: every scenario ran %d times, interleaved (round 1 ran every scenario, then"
                + " round 2, ...), so that a drift of the machine spreads over all of them; every"
                + " run had tables and a consumer name of its own and read the same records"
                + " (the event ids repeat between runs). Each consumer ran in its own JVM with"
                + " -Xmx256m; the broker and the database ran outside it on the same machine."
                + " After every run the ledger was checked: exactly one row per unique event, and"
                + " for the webhook scenarios also every account's balance equal to the sum of its"
                + " unique events' amounts; a run that fails its check fails the invocation."
                + " **events/s** is the median over the runs (records, copies included, from the"
                + " first record to the last one done), **spread** the slowest and fastest run and"
                + " half that range as a percentage of the median, the ratios are those of the"
                + " medians. **Consumer CPU** is the consumer JVM's CPU time and **server CPU**"
                + " that of the PostgreSQL server (postmaster and backends) and the Kafka broker"
                + " from /proc, both over the same window and divided by the records; medians"
                + " over the runs. **2nd half** is the consumer's CPU over the second half of the"
                + " records only, once the JVM has warmed up: in a short run the JIT compiler's"
                + " work of the first seconds is a large share of the whole (not measured for raw"
                + " and jdbc). **Peak heap** is the highest over the runs.%n%n",
            o.runs));
    sb.append(
        "| scenario | events/s | min-max | spread | vs naive | vs JDBC ceiling | consumer CPU"
            + " µs/event | consumer CPU µs/event, 2nd half | server CPU µs/event | peak heap MB |"
            + " ledger |\n"
            + "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (String s : runs.keySet()) {
      sb.append("| ").append(String.join(" | ", cells(s))).append(" |\n");
    }
    sb.append(shareComparison());
    sb.append(
        "\nScenarios: **raw** a KafkaConsumer draining the topic, no database (ceiling);"
            + " **naive** the pattern as usually written: per record a transaction with"
            + " `pg_advisory_xact_lock`, a SELECT check, an INSERT mark and the ledger insert, and"
            + " `commitSync` after every poll, one consumer and one connection per thread;"
            + " **idem-record** idem's per-record mode; **idem-record-query-check** the same with"
            + " `consumer.transaction-state-check=query`; **idem-batch** idem's batch mode;"
            + " **idem-record-traced**, **idem-batch-traced** the same with tracing on (Micrometer"
            + " Tracing over the OpenTelemetry SDK, every span sampled, a batch span processor"
            + " whose exporter drops the spans): against idem-record and idem-batch, whose"
            + " observations are off, the cost of tracing;"
            + " **idem-record-outbox**, **idem-batch-outbox** the same ledger handlers, each event"
            + " also published through the transactional outbox (an outbox row after a per-key"
            + " transaction lock) with the relay sending them in the same JVM: the cost of"
            + " consume, update, produce;"
            + " **idem-grouped** the per-record handler with "
            + ScenarioMain.GROUPED_RECORDS
            + " records per transaction (`consumer.transaction.max-records="
            + ScenarioMain.GROUPED_RECORDS
            + "`, a savepoint per record);"
            + " **idem-record-pg-offsets**, **idem-batch-pg-offsets** the same with"
            + " `consumer.offset-store=postgresql` (each transaction also records its offsets);"
            + " **webhook-record**, **webhook-grouped**, **webhook-batch** the webhook example's"
            + " real handler (`LedgerHandler`: a ledger entry and an atomic balance upsert per"
            + " event, its JSON payload parsed by `PaymentEvent.parse`) per record, grouped"
            + " (`consumer.transaction.max-records="
            + ScenarioMain.GROUPED_RECORDS
            + "`) and in batch mode; the example has no batch handler, so webhook-batch runs the"
            + " benchmark's own with the same SQL effect: the same entry rows in one JDBC batch,"
            + " and one balance upsert per account with the batch's sum, in account order;"
            + " **group-1p** idem-record on a one-partition copy of the topic, one consumer (a"
            + " consumer group cannot use more); **share-1**, **share-2**, **share-4** one, two"
            + " and four share consumers of one share group (in one JVM, each with its own"
            + " workers) on the same one-partition topic;"
            + " their ratios are against the synthetic naive loop and ceiling;"
            + " **jdbc** the batch SQL (sorted locks, bulk mark, ledger insert) without Kafka,"
            + " records already in memory (ceiling for the database side).\n");
    transactionTimes(sb);
    latencyMarkdown(sb, o);
    return sb.toString();
  }

  private void transactionTimes(StringBuilder sb) {
    sb.append(
        "\n## Where the time of a transaction goes\n\nMedians over the runs of the means of idem's"
            + " own timers (`idem.transaction.time`: connection to commit; `idem.lock.wait`: the"
            + " round trip with the settings and the lock, per record also the mark; `idem.handler.time`: the handler), per timed"
            + " sample (a transaction of one record, of a group, or of a batch chunk).\n\n"
            + "| mode | transaction µs | lock statement µs | handler µs |\n|---|---:|---:|---:|\n");
    for (String mode : runs.keySet()) {
      if (!runs.get(mode).get(0).result().path("meanMicros").has("idem.transaction.time")) {
        continue;
      }
      sb.append(
          fmt(
              "| %s | %.0f | %.0f | %.0f |%n",
              mode,
              median(mode, r -> r.path("meanMicros").path("idem.transaction.time").asDouble()),
              median(mode, r -> r.path("meanMicros").path("idem.lock.wait").asDouble()),
              median(mode, r -> r.path("meanMicros").path("idem.handler.time").asDouble())));
    }
  }

  private void latencyMarkdown(StringBuilder sb, Options o) {
    if (latencies.isEmpty()) {
      return;
    }
    sb.append(
        fmt(
            "\n## Latency under steady load\n\nNew events produced for %d s at a steady rate, a"
                + " fraction of each mode's median maximum measured above, by a load generator in"
                + " a JVM of its own on the same machine (Kafka producer, `linger.ms=5`,"
                + " `acks=all`), after %d s of warm-up at half the rate that are not sampled (the"
                + " consumer JVM has just started, and its JIT compiler needs the CPU); each measured event is stamped with a"
                + " `sent-at` header when it is sent; latency is"
                + " from that stamp to the return of the commit of the transaction that applied"
                + " the event, recorded by the consumer (it includes the producer's linger, the"
                + " broker and the poll). **sent/s** is the rate the generator achieved. Targets"
                + " (issue 15): p99 ≤ 100 ms at 50%% and ≤ 250 ms at 70%% of the maximum for the"
                + " batch and grouped modes, ≤ 250 ms at 50%% for one transaction per record;"
                + " the runs at 25%% have no target and show each mode where the two cores are"
                + " not saturated. **CPU** columns are cores used during the run by the consumer,"
                + " the load generator and the servers (PostgreSQL and Kafka) of the 2 cores."
                + "%n%n| mode | rate (events/s) | sent/s | p50 ms | p99 ms | p99.9 ms | max ms |"
                + " samples | p99 target ms | consumer CPU | generator CPU | server CPU | ledger |%n"
                + "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|%n",
            o.latencySeconds, LoadMain.WARMUP_SECONDS));
    for (Latency l : latencies) {
      sb.append("| ").append(String.join(" | ", latencyCells(l))).append(" |\n");
    }
  }
}
