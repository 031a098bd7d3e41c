package dev.idem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;

/**
 * The profiling runs ({@code --profile}): a JFR recording of every scenario's consumer JVM and
 * {@code pg_stat_statements} of the server (reset by the consumer at its first record), reduced to
 * their top entries, one markdown section per scenario run. Off by default: without {@code
 * --profile} nothing here runs, the consumers start without JFR and the server without the
 * extension.
 *
 * <p>The consumer's view counts {@code jdk.ExecutionSample} events (threads running Java code,
 * sampled by JFR's "profile" settings every 10 ms) inside the scenario's measured window only: by
 * self samples (the top frame), and by samples including callees restricted to {@code dev.idem},
 * {@code org.postgresql} and {@code org.apache.kafka} frames (each method once per sample, so a
 * method's share is the share of samples with it on the stack), and by thread. Threads waiting in
 * native code (a socket read for the database's answer) are not in these samples: the server's side
 * is in the statements.
 */
final class Profiler {
  private static final List<String> OWN_PACKAGES =
      List.of("dev.idem.", "org.postgresql.", "org.apache.kafka.");

  /** The consumer JVM's system property: reset pg_stat_statements at the first record. */
  static final String RESET_PROPERTY = "idem.bench.reset-statements";

  private final Database db;
  private final Path out;
  private final Path recordings;
  private final StringBuilder markdown = new StringBuilder();
  private String statementsUnavailable;

  Profiler(Database db, Path out) throws IOException {
    this.db = db;
    this.out = out;
    this.recordings = out.toAbsolutePath().resolveSibling("profile-jfr");
    Files.createDirectories(recordings);
    markdown
        .append("# Profiles\n\nOne section per scenario run: JFR execution samples of the consumer")
        .append(" JVM in the scenario's measured window (settings=profile), and the server's")
        .append(
            " statements by total execution time (pg_stat_statements, reset at the run's first record).")
        .append(" Recordings: ")
        .append(recordings)
        .append(".\n");
    try (Connection c = db.connect();
        Statement s = c.createStatement()) {
      s.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
      s.execute("SELECT pg_stat_statements_reset()");
    } catch (SQLException e) {
      statementsUnavailable =
          "pg_stat_statements is not available ("
              + e.getMessage().strip()
              + "); the embedded server loads it with --profile, a given server needs"
              + " shared_preload_libraries=pg_stat_statements";
      System.out.println(statementsUnavailable);
    }
  }

  /**
   * The options of a consumer JVM that records to the file of {@code run} and, when the server has
   * pg_stat_statements, resets its statistics at its first record ({@link #RESET_PROPERTY}), so
   * that the statements are those of the measured window, not of the consumer's start.
   */
  List<String> jvmOptions(String run) {
    List<String> options = new ArrayList<>();
    options.add(
        "-XX:StartFlightRecording=settings=profile,dumponexit=true,filename=" + recording(run));
    if (statementsUnavailable == null) {
      options.add("-D" + RESET_PROPERTY + "=true");
    }
    return options;
  }

  private Path recording(String run) {
    return recordings.resolve(run + ".jfr");
  }

  /**
   * Reads the recording of {@code run} and the server's statements, prints the section and keeps it
   * for the file; called right after the scenario's consumer ended, before the ledger check.
   */
  void afterScenario(String run, JsonNode result, long events) throws Exception {
    StringBuilder sb = new StringBuilder();
    sb.append("\n## ").append(run).append("\n\n");
    sb.append(
        fmt(
            "%,d records in %.2f s (%,.0f events/s; slower than without profiling).%n",
            events, result.get("seconds").asDouble(), result.get("eventsPerSecond").asDouble()));
    consumer(sb, recording(run), result);
    server(sb, events);
    System.out.print(sb);
    markdown.append(sb);
  }

  /** Writes the sections to the profile file. */
  void write() throws IOException {
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(out, markdown.toString());
    System.out.println("profiles written to " + out);
  }

  private static void consumer(StringBuilder sb, Path file, JsonNode result) throws IOException {
    Instant from = Instant.ofEpochMilli(result.get("windowStartMs").asLong());
    Instant to = Instant.ofEpochMilli(result.get("windowEndMs").asLong());
    Map<String, Integer> self = new HashMap<>();
    Map<String, Integer> inclusive = new HashMap<>();
    Map<String, Integer> innermost = new HashMap<>();
    Map<String, Integer> threads = new HashMap<>();
    Map<String, Integer> waiting = new HashMap<>();
    int total = 0;
    int truncated = 0;
    int nativeTotal = 0;
    try (RecordingFile recording = new RecordingFile(file)) {
      while (recording.hasMoreEvents()) {
        RecordedEvent e = recording.readEvent();
        String type = e.getEventType().getName();
        boolean java = type.equals("jdk.ExecutionSample");
        if (!java && !type.equals("jdk.NativeMethodSample")
            || e.getStartTime().isBefore(from)
            || e.getStartTime().isAfter(to)) {
          continue;
        }
        RecordedStackTrace stack = e.getStackTrace();
        if (stack == null || stack.getFrames().isEmpty()) {
          continue;
        }
        List<RecordedFrame> frames = stack.getFrames();
        if (!java) {
          nativeTotal++;
          waiting.merge(innermostOwn(frames), 1, Integer::sum);
          continue;
        }
        total++;
        if (stack.isTruncated()) {
          truncated++;
        }
        self.merge(method(frames.get(0)), 1, Integer::sum);
        innermost.merge(innermostOwn(frames), 1, Integer::sum);
        Set<String> seen = new HashSet<>();
        for (RecordedFrame f : frames) {
          String m = method(f);
          if (own(m) && seen.add(m)) {
            inclusive.merge(m, 1, Integer::sum);
          }
        }
        threads.merge(threadGroup(e), 1, Integer::sum);
      }
    }
    sb.append(
        fmt(
            "%nConsumer: %,d execution samples (threads running Java code, every 10 ms) in the"
                + " measured window, %,d of them with stacks cut at JFR's depth; JIT compilation,"
                + " GC and time in system calls are CPU outside these samples.%n",
            total, truncated));
    top(sb, "Top 15 methods by self samples", self, total, 15);
    top(
        sb,
        "Top 10 dev.idem / org.postgresql / org.apache.kafka methods by samples including callees"
            + " (each method once per sample: its share of the samples with it on the stack)",
        inclusive,
        total,
        10);
    top(
        sb,
        "Top 10 by the innermost dev.idem / org.postgresql / org.apache.kafka frame (a sample in the"
            + " JDK, Jackson, HikariCP or Micrometer counts for the nearest of these methods that"
            + " called it: where this code's CPU goes, its library work included)",
        innermost,
        total,
        10);
    top(sb, "Samples by thread (digits in names replaced by N)", threads, total, 8);
    top(
        sb,
        fmt(
            "Threads in native code (%,d samples, every 20 ms: mostly waiting on a socket), by the"
                + " innermost dev.idem / org.postgresql / org.apache.kafka frame",
            nativeTotal),
        waiting,
        nativeTotal,
        8);
  }

  private static boolean own(String method) {
    return OWN_PACKAGES.stream().anyMatch(method::startsWith);
  }

  private static String innermostOwn(List<RecordedFrame> frames) {
    for (RecordedFrame f : frames) {
      String m = method(f);
      if (own(m)) {
        return m;
      }
    }
    return "(none: " + method(frames.get(0)) + ")";
  }

  private static String method(RecordedFrame f) {
    return f.getMethod().getType().getName() + "." + f.getMethod().getName();
  }

  private static String threadGroup(RecordedEvent e) {
    var t = e.getThread("sampledThread");
    String name = t == null || t.getJavaName() == null ? "(native)" : t.getJavaName();
    return name.replaceAll("\\d+", "N");
  }

  private static void top(
      StringBuilder sb, String title, Map<String, Integer> counts, int total, int n) {
    sb.append("\n").append(title).append(":\n\n| samples | % | where |\n|---:|---:|---|\n");
    counts.entrySet().stream()
        .sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
        .limit(n)
        .forEach(
            e ->
                sb.append(
                    fmt(
                        "| %d | %.1f | `%s` |%n",
                        e.getValue(),
                        total == 0 ? 0.0 : 100.0 * e.getValue() / total,
                        e.getKey())));
  }

  private void server(StringBuilder sb, long events) throws SQLException {
    if (statementsUnavailable != null) {
      sb.append("\nServer: ").append(statementsUnavailable).append(".\n");
      return;
    }
    String mine = " WHERE query NOT LIKE '%pg_stat_statements%'";
    List<String> rows = new ArrayList<>();
    double totalMs;
    long calls;
    try (Connection c = db.connect();
        Statement s = c.createStatement()) {
      try (ResultSet rs =
          s.executeQuery(
              "SELECT calls, total_exec_time, mean_exec_time, rows,"
                  + " left(regexp_replace(query, '\\s+', ' ', 'g'), 150)"
                  + " FROM pg_stat_statements"
                  + mine
                  + " ORDER BY total_exec_time DESC LIMIT 10")) {
        while (rs.next()) {
          rows.add(
              fmt(
                  "| %,d | %,.0f | %,.1f | %,d | `%s` |%n",
                  rs.getLong(1),
                  rs.getDouble(2),
                  rs.getDouble(3) * 1000,
                  rs.getLong(4),
                  rs.getString(5).replace("|", "\\|").replace("`", "'")));
        }
      }
      try (ResultSet rs =
          s.executeQuery(
              "SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0)"
                  + " FROM pg_stat_statements"
                  + mine)) {
        rs.next();
        totalMs = rs.getDouble(1);
        calls = rs.getLong(2);
      }
    }
    sb.append(
        fmt(
            "%nServer: %,.0f ms of statement execution in %,d calls, %.1f µs per record"
                + " (pg_stat_statements total_exec_time: execution only, without planning, the"
                + " commit's WAL flush or the time between statements).%n",
            totalMs, calls, totalMs * 1000 / events));
    sb.append(
        "\nTop 10 statements by total execution time:\n\n"
            + "| calls | total ms | mean µs | rows | query |\n|---:|---:|---:|---:|---|\n");
    rows.forEach(sb::append);
  }

  private static String fmt(String format, Object... args) {
    return String.format(Locale.ROOT, format, args);
  }
}
