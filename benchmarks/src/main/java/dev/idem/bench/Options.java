package dev.idem.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The harness's options; see {@link BenchmarkMain} for what each one does. */
public final class Options {
  int events = 1_000_000;
  int threads = 4;
  int partitions = 4;
  int batch = 500;
  int runs = 3;
  int latencySeconds = 20;
  List<String> scenarios = BenchmarkMain.SCENARIOS;
  boolean skipLatency;
  boolean writeDocs = true;
  boolean profile;
  String bootstrap;
  String pgUrl;
  String pgUser = "postgres";
  String pgPassword = "";
  Path out = Path.of("docs", "benchmarks.md");
  Path profileOut = Path.of("target", "profile.md");

  private Options() {}

  /**
   * Parses command-line options.
   *
   * @throws IllegalArgumentException for an unknown option, a missing or bad value, or an unknown
   *     scenario name (the message lists the known ones)
   */
  public static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--quick" -> {
          o.events = 200_000;
          o.latencySeconds = 10;
        }
        case "--events" -> o.events = number(args, ++i, a);
        case "--threads" -> o.threads = number(args, ++i, a);
        case "--partitions" -> o.partitions = number(args, ++i, a);
        case "--batch" -> o.batch = number(args, ++i, a);
        case "--runs" -> o.runs = number(args, ++i, a);
        case "--scenarios" -> o.scenarios = scenarios(value(args, ++i, a));
        case "--latency-seconds" -> o.latencySeconds = number(args, ++i, a);
        case "--skip-latency" -> o.skipLatency = true;
        case "--no-docs" -> o.writeDocs = false;
        case "--profile" -> o.profile = true;
        case "--profile-out" -> o.profileOut = Path.of(value(args, ++i, a));
        case "--bootstrap" -> o.bootstrap = value(args, ++i, a);
        case "--pg-url" -> o.pgUrl = value(args, ++i, a);
        case "--pg-user" -> o.pgUser = value(args, ++i, a);
        case "--pg-password" -> o.pgPassword = value(args, ++i, a);
        case "--out" -> o.out = Path.of(value(args, ++i, a));
        default -> throw new IllegalArgumentException("unknown option " + a);
      }
    }
    if (o.events < 10 || o.threads < 1 || o.partitions < 1 || o.batch < 1) {
      throw new IllegalArgumentException(
          "events (at least 10), threads, partitions and batch must be positive");
    }
    if (o.runs < 1 || o.latencySeconds < 1) {
      throw new IllegalArgumentException("--runs and --latency-seconds must be at least 1");
    }
    return o;
  }

  /** The scenarios to run, in the order of the table; always with naive and jdbc. */
  public List<String> scenarios() {
    return scenarios;
  }

  /**
   * The named scenarios plus naive and jdbc (every ratio needs them), in the order of {@link
   * BenchmarkMain#SCENARIOS}.
   */
  static List<String> scenarios(String list) {
    Set<String> wanted = new LinkedHashSet<>(List.of("naive", "jdbc"));
    for (String name : list.split(",")) {
      String n = name.trim();
      if (n.isEmpty()) {
        continue;
      }
      if (!BenchmarkMain.SCENARIOS.contains(n)) {
        throw new IllegalArgumentException(
            "unknown scenario "
                + n
                + " in --scenarios; known: "
                + String.join(", ", BenchmarkMain.SCENARIOS));
      }
      wanted.add(n);
    }
    List<String> out = new ArrayList<>();
    for (String s : BenchmarkMain.SCENARIOS) {
      if (wanted.contains(s)) {
        out.add(s);
      }
    }
    return List.copyOf(out);
  }

  private static String value(String[] args, int i, String option) {
    if (i >= args.length) {
      throw new IllegalArgumentException("option " + option + " needs a value");
    }
    return args[i];
  }

  private static int number(String[] args, int i, String option) {
    String v = value(args, i, option);
    try {
      return Integer.parseInt(v.replace("_", ""));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("option " + option + " needs a whole number, not " + v);
    }
  }
}
