package dev.idem.testkit;

import dev.idem.testkit.internal.BrokerMain;
import dev.idem.testkit.pg.TestkitException;
import dev.idem.testkit.pg.internal.Files2;
import dev.idem.testkit.pg.internal.Ports;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A single-node KRaft Kafka broker (combined broker and controller) running in a child JVM on free
 * loopback ports with a temporary log directory.
 *
 * <p>The child JVM keeps the broker's threads, heap and logging out of the test JVM, and lets tests
 * kill the broker like a crashed server. It exits on its own when the test JVM goes away. Stopping
 * and starting again keeps the port, the cluster id and the data, so committed offsets and topics
 * survive a restart.
 *
 * <p>The system property {@value #CHILD_JVM_OPTIONS} adds options to the broker's JVM, separated by
 * spaces; idem's build passes its test JVMs' options this way (C1 only, which halves the CPU the
 * brokers spend starting and serving the tests).
 */
public final class EmbeddedKafkaBroker implements KafkaServer {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);
  private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(90);

  /** The system property whose value, split at spaces, is added to the broker JVM's options. */
  public static final String CHILD_JVM_OPTIONS = "idem.testkit.child-jvm-options";

  private final Path directory;
  private final Path properties;
  private final String clusterId;
  private final int port;
  private final int controllerPort;
  private final String heap;
  private Process process;
  private boolean closed;

  private EmbeddedKafkaBroker(Map<String, String> overrides, String heap) {
    try {
      this.directory = Files.createTempDirectory("idem-kafka-");
    } catch (IOException e) {
      throw new TestkitException("cannot create the broker directory", e);
    }
    this.properties = directory.resolve("server.properties");
    this.clusterId = Uuid.randomUuid().toString();
    this.port = Ports.freePort();
    this.controllerPort = Ports.freePort();
    this.heap = heap;
    writeProperties(overrides);
    Runtime.getRuntime().addShutdownHook(new Thread(this::close, "idem-kafka-shutdown"));
  }

  /** Starts a broker with default settings. */
  public static EmbeddedKafkaBroker launch() {
    return launch(Map.of());
  }

  /**
   * Starts a broker with extra or replaced {@code server.properties} entries, for example lower
   * minimum session timeouts for fault tests.
   */
  public static EmbeddedKafkaBroker launch(Map<String, String> overrides) {
    EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(overrides, "-Xmx768m");
    broker.start0();
    return broker;
  }

  @Override
  public String bootstrapServers() {
    return "127.0.0.1:" + port;
  }

  @Override
  public String kind() {
    return "embedded";
  }

  @Override
  public boolean restartable() {
    return true;
  }

  /** The broker's log directory. */
  public Path directory() {
    return directory;
  }

  @Override
  public synchronized void start() {
    if (closed) {
      throw new TestkitException("the broker was closed; start a new one");
    }
    if (process != null && process.isAlive()) {
      return;
    }
    start0();
  }

  @Override
  public synchronized void stop() {
    halt(false);
  }

  @Override
  public synchronized void kill() {
    halt(true);
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    halt(false);
    Files2.deleteTree(directory);
  }

  private void writeProperties(Map<String, String> overrides) {
    Map<String, String> p = new LinkedHashMap<>();
    p.put("process.roles", "broker,controller");
    p.put("node.id", "1");
    p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
    p.put(
        "listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
    p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
    p.put("controller.listener.names", "CONTROLLER");
    p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    p.put("inter.broker.listener.name", "PLAINTEXT");
    p.put("log.dirs", directory.resolve("data").toString());
    p.put("num.partitions", "1");
    p.put("offsets.topic.replication.factor", "1");
    p.put("offsets.topic.num.partitions", "4");
    p.put("transaction.state.log.replication.factor", "1");
    p.put("transaction.state.log.min.isr", "1");
    p.put("transaction.state.log.num.partitions", "4");
    p.put("share.coordinator.state.topic.replication.factor", "1");
    p.put("share.coordinator.state.topic.min.isr", "1");
    // Share groups (share.version 1 is finalized by default on 4.3): one state partition is enough
    // for one node, and tests lower a group's acquisition lock below the broker's 15 s minimum to
    // see lock expiries within seconds, and share sessions and heartbeats like consumer groups'.
    p.put("share.coordinator.state.topic.num.partitions", "1");
    p.put("group.share.min.record.lock.duration.ms", "1000");
    p.put("group.share.min.session.timeout.ms", "1000");
    p.put("group.share.min.heartbeat.interval.ms", "500");
    p.put("group.share.heartbeat.interval.ms", "1000");
    p.put("group.initial.rebalance.delay.ms", "0");
    // Short consumer sessions make fault tests detect dead members quickly.
    p.put("group.min.session.timeout.ms", "1000");
    p.put("group.consumer.min.session.timeout.ms", "1000");
    p.put("group.consumer.min.heartbeat.interval.ms", "500");
    // Members of group.protocol=consumer learn of new assignments on their next heartbeat.
    p.put("group.consumer.heartbeat.interval.ms", "1000");
    p.put("auto.create.topics.enable", "false");
    p.putAll(overrides);
    Properties props = new Properties();
    props.putAll(p);
    try (OutputStream out = Files.newOutputStream(properties)) {
      props.store(out, "idem testkit broker");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void start0() {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add(heap);
    command.add("-XX:+UseG1GC");
    command.add("-XX:MaxGCPauseMillis=20");
    command.addAll(childJvmOptions());
    command.add("-Djava.awt.headless=true");
    command.add("-Dlogback.configurationFile=idem-testkit-broker-logback.xml");
    command.add("-Dlog4j2.configurationFile=classpath:idem-testkit-broker-log4j2.xml");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(BrokerMain.class.getName());
    command.add(properties.toString());
    command.add(clusterId);
    Path logFile = logFile();
    ProcessBuilder builder =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    try {
      process = builder.start();
    } catch (IOException e) {
      throw new TestkitException("cannot start the broker JVM", e);
    }
    awaitReady(logFile);
    log.info("Kafka broker listening on {} (log dir {})", bootstrapServers(), directory);
  }

  private static List<String> childJvmOptions() {
    return Arrays.stream(System.getProperty(CHILD_JVM_OPTIONS, "").trim().split("\\s+"))
        .filter(option -> !option.isEmpty())
        .toList();
  }

  /**
   * The broker's log: under {@code target/idem-testkit/} when run from a Maven module (so it
   * outlives the temporary log directory for failure analysis), else inside that directory.
   */
  private Path logFile() {
    Path target = Path.of("target");
    if (Files.isDirectory(target)) {
      try {
        Path logs = Files.createDirectories(target.resolve("idem-testkit"));
        return logs.resolve("broker-" + port + ".log");
      } catch (IOException e) {
        // Fall back to the broker directory.
      }
    }
    return directory.resolve("broker.log");
  }

  private void awaitReady(Path logFile) {
    long deadline = System.nanoTime() + STARTUP_TIMEOUT.toNanos();
    Map<String, Object> config =
        Map.of(
            AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
            AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000,
            AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3000);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new TestkitException(
            "the broker JVM exited with " + process.exitValue() + "; see " + logFile);
      }
      if (Ports.listening(port)) {
        try (Admin admin = Admin.create(config)) {
          admin.describeCluster().nodes().get(3, TimeUnit.SECONDS);
          // The broker answers metadata before its group coordinator is ready; listing groups
          // needs the coordinator, so a consumer will find it too.
          admin.listGroups().all().get(3, TimeUnit.SECONDS);
          return;
        } catch (ExecutionException | TimeoutException e) {
          // Not ready yet.
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new TestkitException("interrupted while waiting for the broker", e);
        }
      }
      sleep(100);
    }
    halt(true);
    throw new TestkitException(
        "the broker did not answer within " + STARTUP_TIMEOUT + "; see " + logFile);
  }

  private void halt(boolean forcibly) {
    Process p = process;
    if (p == null || !p.isAlive()) {
      return;
    }
    if (forcibly) {
      p.destroyForcibly();
    } else {
      p.destroy();
    }
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
    }
    awaitPortFree();
  }

  private void awaitPortFree() {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (Ports.listening(port) && System.nanoTime() < deadline) {
      sleep(50);
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TestkitException("interrupted", e);
    }
  }

  @Override
  public String toString() {
    return "EmbeddedKafkaBroker[" + bootstrapServers() + ", " + clusterId + "]";
  }
}
