package dev.idem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The harness's child JVMs (a scenario's consumer, the load generator): each with {@code -Xmx256m}
 * and G1, the harness's class path, and its {@link Settings} as arguments; each prints one line
 * {@code RESULT {json}} before it exits.
 */
final class Children {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A started child: its process and its output. */
  record Child(String name, Process process, BufferedReader out) {}

  private Children() {}

  /** Starts {@code main} with {@code s}; {@code jvmOptions} come before the main class. */
  static Child start(Class<?> main, Settings s, List<String> jvmOptions) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-XX:+UseG1GC");
    // The example's jar brings a logback.xml of its own: name the benchmark's.
    cmd.add("-Dlogback.configurationFile=idem-bench-logback.xml");
    cmd.addAll(jvmOptions);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(main.getName());
    cmd.addAll(List.of(s.toArgs()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    return new Child(
        main.getSimpleName() + " " + s.scenario(),
        p,
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)));
  }

  /** Runs {@code main} with {@code s} to its end; its result. */
  static JsonNode run(Class<?> main, Settings s, List<String> jvmOptions) throws Exception {
    return finish(start(main, s, jvmOptions));
  }

  /** Waits until the child prints READY. */
  static void awaitReady(Child c) throws IOException {
    String line;
    while ((line = c.out().readLine()) != null) {
      if (line.equals("READY")) {
        return;
      }
    }
    throw new IllegalStateException(c.name() + " ended before it was ready");
  }

  /** Reads the child's output to its end and waits for it; its result, or throws with its log. */
  static JsonNode finish(Child c) throws Exception {
    List<String> lines = new ArrayList<>();
    JsonNode result = null;
    try (BufferedReader out = c.out()) {
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
    int exit = c.process().waitFor();
    if (exit != 0 || result == null) {
      throw new IllegalStateException(
          c.name() + " failed (exit " + exit + "):\n" + String.join("\n", lines));
    }
    return result;
  }
}
