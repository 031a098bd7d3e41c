package dev.idem.chaos;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One consumer JVM ({@link ChaosConsumerMain}) as seen by the orchestrator: launched with this
 * JVM's class path, its status lines read on a thread of their own, commands written to its
 * standard input. Its logs (standard error) are appended to a file.
 */
final class ConsumerProcess {
  private final String name;
  private final Process process;
  private final Writer commands;
  private final CountDownLatch ready = new CountDownLatch(1);
  private final Map<String, Long> stats = new ConcurrentHashMap<>();
  private volatile int assigned;
  private volatile int slowHandlers;
  private volatile int holdingLast;
  // Written by the status thread only.
  private volatile long statsReports;
  private volatile String halt;
  private volatile String failure;

  private ConsumerProcess(String name, Process process) {
    this.name = name;
    this.process = process;
    this.commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread reader = new Thread(this::readStatus, "chaos-status-" + name);
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * Launches a consumer process named {@code name} with {@code args} ({@code key=value}), its log
   * appended to {@code logFile}.
   */
  static ConsumerProcess launch(String name, List<String> args, Path logFile) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx256m");
    command.add("-XX:+UseSerialGC");
    // C1 only: three consumer JVMs compiling with C2 at once would starve two cores.
    command.add("-XX:TieredStopAtLevel=1");
    command.add("-Djava.awt.headless=true");
    command.add("-Dlogback.configurationFile=idem-chaos-consumer-logback.xml");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(ChaosConsumerMain.class.getName());
    command.add("instance=" + name);
    command.addAll(args);
    ProcessBuilder builder =
        new ProcessBuilder(command)
            .redirectError(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    try {
      return new ConsumerProcess(name, builder.start());
    } catch (IOException e) {
      throw new ChaosException("cannot start consumer process " + name, e);
    }
  }

  /** The instance name, e.g. {@code c2.3} (slot 2, third start). */
  String name() {
    return name;
  }

  /** The operating system's process id. */
  long pid() {
    return process.pid();
  }

  /**
   * Waits until the consumer started.
   *
   * @throws ChaosException when it exits first or does not start in time
   */
  void awaitReady(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        if (ready.await(100, TimeUnit.MILLISECONDS)) {
          return;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ChaosException("interrupted while waiting for " + name, e);
      }
      if (!process.isAlive()) {
        throw new ChaosException(
            "consumer " + name + " exited with " + process.exitValue() + " before it was ready");
      }
    }
    throw new ChaosException("consumer " + name + " was not ready within " + timeout);
  }

  /** Whether the consumer reported that it started. */
  boolean ready() {
    return ready.getCount() == 0;
  }

  /** The number of partitions the consumer last reported owning. */
  int assigned() {
    return assigned;
  }

  /**
   * How many hung or slow-failing handlers the consumer last reported running (see {@link
   * ChaosProtocol#SLOW_HANDLERS}).
   */
  int slowHandlers() {
    return slowHandlers;
  }

  /** How many of {@link #slowHandlers()} run on their record's last delivery. */
  int holdingLast() {
    return holdingLast;
  }

  /** The consumer's last reported counter {@code key} (e.g. {@code processed}), or 0. */
  long stat(String key) {
    return stats.getOrDefault(key, 0L);
  }

  /**
   * How many counter reports arrived so far. The consumer sends one at most every 200 ms, and only
   * when a counter changed, so the second report after a moment was sent after that moment.
   */
  long statsReports() {
    return statsReports;
  }

  /** The record after whose commit the process halted, or null. */
  String halt() {
    return halt;
  }

  /** Why the consumer stopped on its own, or null. */
  String failure() {
    return failure;
  }

  boolean alive() {
    return process.isAlive();
  }

  /** Sends a command line; false when the process is gone. */
  boolean send(String command) {
    try {
      synchronized (commands) {
        commands.write(command + "\n");
        commands.flush();
      }
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Kills the process with SIGKILL and waits for it. */
  void kill() {
    process.destroyForcibly();
    awaitExit(Duration.ofSeconds(30));
  }

  /**
   * Waits for the process to exit.
   *
   * @return the exit code, or null when it still runs after {@code timeout}
   */
  Integer awaitExit(Duration timeout) {
    try {
      if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        return process.exitValue();
      }
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ChaosException("interrupted while waiting for " + name + " to exit", e);
    }
  }

  /** The exit code, or null while the process runs. */
  Integer exitCode() {
    return process.isAlive() ? null : process.exitValue();
  }

  private void readStatus() {
    try (BufferedReader in =
        new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        status(line.trim());
      }
    } catch (IOException e) {
      // The process is gone.
    }
  }

  private void status(String line) {
    String[] parts = line.split(" ");
    switch (parts[0]) {
      case ChaosProtocol.READY -> ready.countDown();
      case ChaosProtocol.ASSIGNED -> assigned = Integer.parseInt(parts[1]);
      case ChaosProtocol.SLOW_HANDLERS -> {
        slowHandlers = Integer.parseInt(parts[1]);
        holdingLast = Integer.parseInt(parts[2]);
      }
      case ChaosProtocol.STATS -> {
        for (int i = 1; i < parts.length; i++) {
          int eq = parts[i].indexOf('=');
          if (eq > 0) {
            stats.put(parts[i].substring(0, eq), Long.parseLong(parts[i].substring(eq + 1)));
          }
        }
        statsReports++;
      }
      case ChaosProtocol.HALT -> halt = parts.length > 1 ? parts[1] : "?";
      case ChaosProtocol.FAILED -> failure = line.substring(ChaosProtocol.FAILED.length()).trim();
      default -> {
        // STOPPED and anything else: the exit code tells the rest.
      }
    }
  }

  @Override
  public String toString() {
    return name + "(pid " + process.pid() + ")";
  }
}
