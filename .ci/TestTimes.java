import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Prints how long each module's tests took, from the Surefire and Failsafe reports a build left in
 * {@code <module>/target}, so that a change can quote the seconds its tests add.
 *
 * <pre>
 * java .ci/TestTimes.java [--cpu-since FILE] [--names]
 * </pre>
 *
 * <p>"wall" is the span from the first test class's start to the last one's end in the module
 * (classes run side by side in forked JVMs, so it is less than "class sum"). A class's end is its
 * report file's time, its start that minus its elapsed time. With {@code --cpu-since FILE} (a copy of
 * the {@code cpu} line of /proc/stat taken before the build) it also prints how busy the machine's
 * processors were since then, counting every process: the broker and the database run outside the
 * build's JVM. With {@code --names} it prints every test case as {@code module class#method result}
 * instead, sorted, for comparing two runs.
 */
public final class TestTimes {
  private static final int SLOWEST = 8;

  private record Suite(String module, String name, double seconds, long endMillis, int tests,
      int skipped, int failed) {}

  private record Case(String module, String name, String result) {}

  public static void main(String[] args) throws Exception {
    Path cpuSince = null;
    boolean names = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--cpu-since" -> cpuSince = Path.of(args[++i]);
        case "--names" -> names = true;
        default -> {
          System.err.println("usage: java .ci/TestTimes.java [--cpu-since FILE] [--names]");
          System.exit(2);
        }
      }
    }
    List<Suite> suites = new ArrayList<>();
    List<Case> cases = new ArrayList<>();
    List<String> modules = modules(Path.of("pom.xml"));
    for (String module : modules) {
      for (String kind : List.of("surefire-reports", "failsafe-reports")) {
        Path dir = Path.of(module, "target", kind);
        if (Files.isDirectory(dir)) {
          read(module, dir, suites, cases);
        }
      }
    }
    if (names) {
      cases.stream()
          .map(c -> c.module() + " " + c.name() + " " + c.result())
          .sorted()
          .forEach(System.out::println);
      return;
    }
    printTimes(modules, suites);
    if (cpuSince != null) {
      printCpu(cpuSince);
    }
  }

  /** The modules in the parent pom's order (the reactor's, where no dependency reorders them). */
  private static List<String> modules(Path pom) throws IOException {
    List<String> modules = new ArrayList<>();
    Matcher m = Pattern.compile("<module>([^<]+)</module>").matcher(Files.readString(pom));
    while (m.find()) {
      modules.add(m.group(1).trim());
    }
    return modules;
  }

  private static void read(String module, Path dir, List<Suite> suites, List<Case> cases)
      throws Exception {
    List<Path> reports;
    try (Stream<Path> files = Files.list(dir)) {
      reports =
          files
              .filter(p -> p.getFileName().toString().startsWith("TEST-"))
              .filter(p -> p.getFileName().toString().endsWith(".xml"))
              .toList();
    }
    DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
    for (Path report : reports) {
      Element suite = factory.newDocumentBuilder().parse(report.toFile()).getDocumentElement();
      int tests = integer(suite, "tests");
      // The report of a class whose tests are all in @Nested classes holds none of its own and
      // repeats their time: counting it would count them twice.
      if (tests == 0) {
        continue;
      }
      suites.add(
          new Suite(
              module,
              suite.getAttribute("name"),
              number(suite, "time"),
              Files.getLastModifiedTime(report).toMillis(),
              tests,
              integer(suite, "skipped"),
              integer(suite, "failures") + integer(suite, "errors")));
      NodeList testcases = suite.getElementsByTagName("testcase");
      for (int i = 0; i < testcases.getLength(); i++) {
        Element c = (Element) testcases.item(i);
        String result =
            has(c, "skipped")
                ? "skipped"
                : has(c, "failure") || has(c, "error") ? "failed" : "passed";
        cases.add(
            new Case(module, c.getAttribute("classname") + "#" + c.getAttribute("name"), result));
      }
    }
  }

  private static void printTimes(List<String> modules, List<Suite> suites) {
    System.out.println();
    System.out.println("Test time per module (from the test reports):");
    System.out.printf(
        Locale.ROOT,
        "  %-28s %7s %6s %7s %6s %11s %8s%n",
        "module",
        "classes",
        "tests",
        "skipped",
        "failed",
        "class sum s",
        "wall s");
    int classes = 0;
    int tests = 0;
    int skipped = 0;
    int failed = 0;
    double sum = 0;
    for (String module : modules) {
      List<Suite> own = suites.stream().filter(s -> s.module().equals(module)).toList();
      if (own.isEmpty()) {
        continue;
      }
      int t = own.stream().mapToInt(Suite::tests).sum();
      int sk = own.stream().mapToInt(Suite::skipped).sum();
      int f = own.stream().mapToInt(Suite::failed).sum();
      double s = own.stream().mapToDouble(Suite::seconds).sum();
      System.out.printf(
          Locale.ROOT,
          "  %-28s %7d %6d %7d %6d %11.1f %8.1f%n",
          module,
          own.size(),
          t,
          sk,
          f,
          s,
          wall(own));
      classes += own.size();
      tests += t;
      skipped += sk;
      failed += f;
      sum += s;
    }
    System.out.printf(
        Locale.ROOT,
        "  %-28s %7d %6d %7d %6d %11.1f %8.1f%n",
        "all modules",
        classes,
        tests,
        skipped,
        failed,
        sum,
        wall(suites));
    System.out.println("Slowest test classes:");
    suites.stream()
        .sorted(Comparator.comparingDouble(Suite::seconds).reversed())
        .limit(SLOWEST)
        .forEach(
            s ->
                System.out.printf(
                    Locale.ROOT, "  %7.1f s  %s (%s)%n", s.seconds(), s.name(), s.module()));
  }

  /** From the earliest start to the latest end of the given classes, in seconds. */
  private static double wall(List<Suite> suites) {
    if (suites.isEmpty()) {
      return 0;
    }
    double start =
        suites.stream().mapToDouble(s -> s.endMillis() - s.seconds() * 1000).min().orElseThrow();
    double end = suites.stream().mapToLong(Suite::endMillis).max().orElseThrow();
    return (end - start) / 1000;
  }

  /** Busy share of all processors between the saved /proc/stat line and now. */
  private static void printCpu(Path since) throws IOException {
    Path stat = Path.of("/proc/stat");
    if (!Files.isReadable(stat) || !Files.isReadable(since)) {
      return;
    }
    long[] before = cpu(Files.readAllLines(since).get(0));
    long[] after = cpu(Files.readAllLines(stat).get(0));
    long total = 0;
    long idle = 0;
    for (int i = 0; i < after.length; i++) {
      long d = after[i] - (i < before.length ? before[i] : 0);
      total += d;
      // idle and iowait
      if (i == 3 || i == 4) {
        idle += d;
      }
    }
    if (total <= 0) {
      return;
    }
    System.out.printf(
        Locale.ROOT,
        "Processors busy since the build started: %.0f%% of %d (all processes)%n",
        100.0 * (total - idle) / total,
        Runtime.getRuntime().availableProcessors());
  }

  /** The counters of a /proc/stat "cpu" line, without guest time (already in user time). */
  private static long[] cpu(String line) {
    String[] parts = line.trim().split("\\s+");
    int n = Math.min(parts.length - 1, 8);
    long[] values = new long[n];
    for (int i = 0; i < n; i++) {
      values[i] = Long.parseLong(parts[i + 1]);
    }
    return values;
  }

  private static boolean has(Element e, String child) {
    return e.getElementsByTagName(child).getLength() > 0;
  }

  private static int integer(Element e, String attribute) {
    String v = e.getAttribute(attribute);
    return v.isEmpty() ? 0 : Integer.parseInt(v);
  }

  private static double number(Element e, String attribute) {
    String v = e.getAttribute(attribute).replace(",", "");
    return v.isEmpty() ? 0 : Double.parseDouble(v);
  }
}
