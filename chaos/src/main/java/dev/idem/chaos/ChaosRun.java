package dev.idem.chaos;

import dev.idem.testkit.TestInfrastructure;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.kafka.common.TopicPartition;

/**
 * One chaos run: consumer processes consume a seeded workload with duplicates and poison events
 * while faults are injected from a seeded schedule; at the end the run waits until every partition
 * is consumed and committed, stops the consumers gracefully and checks the invariants from
 * PostgreSQL and Kafka. Prints one summary line and returns the {@link ChaosResult}.
 *
 * <p>Faults come in a seeded order, one at a time: each starts at least {@link
 * ChaosOptions#faultSpacing()} after the previous one started and a second after the system was
 * whole again, which the run waits for rather than assumes: every partition is assigned to a
 * running consumer and every running consumer has handled events since the fault. Every listed
 * fault runs once; further rounds follow while the run's duration lasts. Events are produced until
 * the duration passed and the consumers had some seconds of load after the last fault, so every
 * fault hits a loaded system.
 */
public final class ChaosRun {
  /** The {@code application_name} of the consumers' database sessions. */
  static final String APPLICATION_NAME = "idem-chaos-consumer";

  private static final Duration SETTLE_AFTER_FAULT = Duration.ofSeconds(1);
  private static final Duration WHOLE_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration LOAD_AFTER_LAST_FAULT = Duration.ofSeconds(3);
  private static final Duration ASSIGNMENT_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration SESSIONS_GONE_TIMEOUT = Duration.ofSeconds(15);

  /**
   * A share group's {@code share.delivery.count.limit}: the broker's default, set on the group so
   * that the handlers know which delivery is the last.
   */
  static final int SHARE_DELIVERY_LIMIT = 5;

  private final ChaosOptions options;
  private final ChaosCluster cluster;
  private final String name;
  private final Path directory;
  private final FaultLog log;

  private ChaosRun(ChaosOptions options, ChaosCluster cluster) {
    this.options = options;
    this.cluster = cluster;
    this.name = cluster.nextRunName(options.label());
    this.directory = baseDirectory().resolve(name);
    try {
      // Run names repeat between invocations: start from an empty directory.
      if (Files.isDirectory(directory)) {
        try (var old = Files.list(directory)) {
          for (Path p : old.toList()) {
            Files.delete(p);
          }
        }
      }
      Files.createDirectories(directory);
    } catch (IOException e) {
      throw new ChaosException("cannot create " + directory, e);
    }
    this.log = new FaultLog(directory.resolve("faults.log"), "[" + name + "] ");
  }

  /** Runs on servers of its own, closed at the end. */
  public static ChaosResult run(ChaosOptions options) {
    try (ChaosCluster cluster = ChaosCluster.start()) {
      return run(options, cluster);
    }
  }

  /** Runs on {@code cluster}, which other runs may have used before. */
  public static ChaosResult run(ChaosOptions options, ChaosCluster cluster) {
    return new ChaosRun(options, cluster).execute();
  }

  /** Where runs write their logs: {@code idem.chaos.dir}, default {@code target/chaos}. */
  static Path baseDirectory() {
    return Path.of(System.getProperty("idem.chaos.dir", "target/chaos"));
  }

  private ChaosResult execute() {
    log.note(
        "start "
            + options.label()
            + ": seed="
            + options.seed()
            + " (replay with -Didem.chaos.seed="
            + options.seed()
            + ") mode="
            + options.mode().label()
            + (options.share()
                ? " share group (lock "
                    + options.lockDuration().toMillis()
                    + " ms, "
                    + (options.shareRenewals() ? "renewed" : "not renewed")
                    + ", "
                    + SHARE_DELIVERY_LIMIT
                    + " deliveries; "
                    + ShareTimings.of(options.lockDuration())
                    + ")"
                : " offsets=" + options.offsetStore())
            + " rate="
            + options.rate()
            + "/s swallow-rate="
            + options.swallowRate()
            + (options.share()
                ? " hang-rate=" + options.hangRate() + " slow-fail-rate=" + options.slowFailRate()
                : "")
            + " faults="
            + options.faults().stream().map(Fault::label).toList()
            + (options.outbox() ? " outbox" : ""));
    String topicA = name + "_a";
    String topicB = name + "_b";
    TestInfrastructure.createTopics(
        cluster.broker().bootstrapServers(), options.partitions(), Map.of(), topicA, topicB);
    List<TopicPartition> partitions = new ArrayList<>();
    for (String topic : List.of(topicA, topicB)) {
      for (int p = 0; p < options.partitions(); p++) {
        partitions.add(new TopicPartition(topic, p));
      }
    }
    try (Connection c = cluster.connect()) {
      Ledger.reset(c);
      CarelessStatement.prepare(c);
    } catch (SQLException e) {
      throw new ChaosException("cannot create the ledger", e);
    }
    Workload workload = new Workload(options, name, topicA, topicB);
    String outboxTopic = name + "_out";
    String outboxTable = "outbox_" + name.toLowerCase(java.util.Locale.ROOT);
    if (options.outbox()) {
      TestInfrastructure.createTopics(
          cluster.broker().bootstrapServers(), options.partitions(), Map.of(), outboxTopic);
      dev.idem.consumer.outbox.Outbox.builder()
          .table(outboxTable)
          .build()
          .applySchema(cluster.postgres().dataSource());
    }
    List<String> args = new ArrayList<>();
    if (options.share()) {
      // Set before any consumer joins: a killed or halted consumer's records come back to the
      // others after this lock, and the broker's default of 30 s would make each such fault wait
      // that long.
      TestInfrastructure.setGroupConfig(
          cluster.broker().bootstrapServers(),
          name,
          Map.of(
              "share.record.lock.duration.ms",
              String.valueOf(options.lockDuration().toMillis()),
              "share.renew.acknowledge.enable",
              String.valueOf(options.shareRenewals()),
              "share.delivery.count.limit",
              String.valueOf(SHARE_DELIVERY_LIMIT)));
      args.addAll(ShareTimings.of(options.lockDuration()).args());
      args.add("delivery-limit=" + SHARE_DELIVERY_LIMIT);
    }
    if (options.outbox()) {
      args.add("outbox-table=" + outboxTable);
      args.add("outbox-topic=" + outboxTopic);
    }
    args.addAll(
        List.of(
            "group=" + name,
            "group-type=" + (options.share() ? "share" : "consumer"),
            "bootstrap=" + cluster.broker().bootstrapServers(),
            "jdbc=" + cluster.consumerJdbcUrl(),
            "user=" + cluster.postgres().user(),
            "application=" + APPLICATION_NAME,
            "topics=" + topicA + "," + topicB,
            "mode=" + options.mode().label(),
            "offset-store=" + options.offsetStore(),
            "batch-delay-ms=" + options.batchDelay().toMillis()));
    Random random = new Random(options.seed() ^ 0x5DEECE66DL);
    Invariants invariants =
        new Invariants(
            cluster.postgres().dataSource(),
            cluster.broker().bootstrapServers(),
            name,
            APPLICATION_NAME,
            partitions,
            options.offsetStore().equals("postgresql"),
            options.share());
    try (ConsumerFleet fleet =
            new ConsumerFleet(options.consumers(), slot -> args, directory, log);
        WorkloadProducer producer =
            new WorkloadProducer(cluster.broker().bootstrapServers(), workload, options.rate())) {
      fleet.startAll();
      if (!options.share()) {
        awaitAssigned(fleet, partitions.size());
      }
      // A share consumer reports no partitions as its own: a scale-in has none to wait for.
      FaultInjector injector =
          new FaultInjector(
              cluster,
              fleet,
              log,
              random,
              APPLICATION_NAME,
              options.share() ? 0 : partitions.size());
      Instant started = Instant.now();
      producer.start();
      Instant lastFault = injectFaults(injector, fleet, random, started, partitions.size());
      Instant stopAt =
          later(started.plus(options.duration()), lastFault.plus(LOAD_AFTER_LAST_FAULT));
      waitReviving(fleet, stopAt);
      producer.stopAndAwaitAcknowledged(Duration.ofMinutes(5));
      log.note(
          "produced "
              + workload.events().size()
              + " events in "
              + workload.records()
              + " records ("
              + workload.copies()
              + " extra copies, poison "
              + workload.poisonIds()
              + ", "
              + workload.swallowIds().size()
              + " swallowing an SQL error once"
              + (options.share()
                  ? ", hung " + workload.hangIds() + ", slow-failing " + workload.slowFailIds()
                  : "")
              + "), all acknowledged");
      List<String> behind =
          drain(fleet, invariants, options.outbox() ? "idem." + outboxTable : null);
      fleet.stopEverything();
      int sessions = awaitSessionsGone(invariants);
      int locks = invariants.advisoryLocks();
      Invariants.Effects effects = invariants.effects(workload);
      Invariants.OutboxEffects outbox =
          options.outbox() ? invariants.outboxEffects(outboxTopic, "idem." + outboxTable) : null;
      if (behind.isEmpty()) {
        behind = invariants.partitionsNotAtEnd();
      }
      double seconds = Duration.between(started, Instant.now()).toMillis() / 1000.0;
      ChaosResult result =
          new ChaosResult(
              options.label(),
              options.seed(),
              options.mode().label(),
              options.share() ? "share-group" : options.offsetStore(),
              options.shareRenewals(),
              workload.events().size(),
              workload.records(),
              workload.copies(),
              workload.poisonIds().size(),
              workload.swallowIds().size(),
              workload.hangIds().size(),
              workload.slowFailIds().size(),
              log.entries().stream().map(e -> e.fault().label()).toList(),
              fleet.kills(),
              fleet.halts(),
              fleet.gracefulStops(),
              fleet.restarts(),
              fleet.total("rebalances"),
              injector.terminatedSessions(),
              injector.ambiguousCommits(),
              fleet.unexpectedExits(),
              effects,
              locks,
              sessions,
              partitions.size(),
              behind,
              fleet.total("processed"),
              fleet.total("duplicates"),
              fleet.total("retries"),
              fleet.total("swallowed"),
              fleet.total("abandoned"),
              seconds,
              fleet.relayHalts(),
              outbox);
      report(result);
      return result;
    } catch (SQLException e) {
      throw new ChaosException("cannot read the outcome of " + name, e);
    }
  }

  /** Injects the faults; returns when the last one ended. */
  private Instant injectFaults(
      FaultInjector injector, ConsumerFleet fleet, Random random, Instant started, int partitions) {
    Instant productionEnd = started.plus(options.duration());
    List<Fault> round = new ArrayList<>();
    int injected = 0;
    Instant next = started.plus(options.firstFault());
    Instant lastEnd = started;
    while (!options.faults().isEmpty()) {
      boolean firstRound = injected < options.faults().size();
      if (!firstRound && !next.isBefore(productionEnd)) {
        break;
      }
      if (round.isEmpty()) {
        round.addAll(options.faults());
        Collections.shuffle(round, random);
      }
      waitReviving(fleet, next);
      Instant at = Instant.now();
      Fault fault = round.remove(0);
      injector.inject(fault);
      injected++;
      lastEnd = Instant.now();
      Instant whole = awaitWhole(fleet, fault, partitions);
      log.note(
          "whole again "
              + Duration.between(at, whole).toMillis()
              + " ms after "
              + fault.label()
              + " started");
      next = later(at.plus(options.faultSpacing()), whole.plus(SETTLE_AFTER_FAULT));
    }
    return lastEnd;
  }

  /**
   * Waits until the system is whole after {@code fault}: every partition is assigned to a running
   * consumer (in a share group: nothing to wait for) and every running consumer has handled events
   * (applied, skipped as duplicates or dead-lettered) since the fault ended, or runs a hung or
   * slow-failing handler (share groups), which keeps it from acquiring. A killed member's
   * partitions come back only when its session expires, a rebalance takes a moment after a
   * scale-out, and the consumers' first transactions after a server restart are retried: the next
   * fault waits for the effect instead of a fixed time long enough for the slowest of them. Returns
   * when it was whole; at the deadline it notes the state and returns, leaving the verdict to the
   * end-of-run checks.
   */
  private Instant awaitWhole(ConsumerFleet fleet, Fault fault, int partitions) {
    // A consumer's counters arrive in reports; one sent before the fault ended may still be on its
    // way. The second report after the end was sent after it: its figure is the baseline that
    // later reports must exceed.
    Map<String, Long> reportsAtEnd = new HashMap<>();
    for (int slot : fleet.runningSlots()) {
      ConsumerProcess p = fleet.running(slot);
      if (p != null) {
        reportsAtEnd.put(p.name(), p.statsReports());
      }
    }
    Map<String, Long> baseline = new HashMap<>();
    long deadline = System.nanoTime() + WHOLE_TIMEOUT.toNanos();
    String state = "";
    while (System.nanoTime() < deadline) {
      fleet.reviveCrashed();
      int assigned = 0;
      List<String> idle = new ArrayList<>();
      List<Integer> running = fleet.runningSlots();
      for (int slot : running) {
        ConsumerProcess p = fleet.running(slot);
        if (p == null) {
          continue;
        }
        assigned += p.assigned();
        long reports = p.statsReports();
        long handled = handled(p);
        Long base = baseline.get(p.name());
        if (base == null && reports >= reportsAtEnd.getOrDefault(p.name(), 0L) + 2) {
          baseline.put(p.name(), handled);
        }
        // A hung or slow-failing handler keeps its consumer from acquiring until it ends: that
        // consumer is at work, as designed, not broken.
        if ((base == null || handled <= base) && p.slowHandlers() == 0) {
          idle.add(p.name());
        }
      }
      // A share group's members all read every partition and report none as theirs.
      boolean allAssigned = options.share() || assigned == partitions;
      if (allAssigned && idle.isEmpty() && !running.isEmpty()) {
        return Instant.now();
      }
      state = assigned + " partitions assigned, not yet handling events: " + idle;
      Sleep.millis(100);
    }
    log.note("not whole " + WHOLE_TIMEOUT.toSeconds() + " s after " + fault.label() + ": " + state);
    return Instant.now();
  }

  private static long handled(ConsumerProcess p) {
    return p.stat("processed") + p.stat("duplicates") + p.stat("dead-lettered");
  }

  /** Waits until {@code until}, restarting consumers that stopped on their own meanwhile. */
  private static void waitReviving(ConsumerFleet fleet, Instant until) {
    while (Instant.now().isBefore(until)) {
      fleet.reviveCrashed();
      Sleep.millis(100);
    }
  }

  private static Instant later(Instant a, Instant b) {
    return a.isAfter(b) ? a : b;
  }

  /**
   * Waits until every partition's committed position is its end offset and, in outbox runs, every
   * outbox row of {@code outboxTable} is marked sent, restarting consumers that stopped on their
   * own; returns what is still behind at the deadline.
   */
  private List<String> drain(ConsumerFleet fleet, Invariants invariants, String outboxTable) {
    long deadline = System.nanoTime() + options.drainTimeout().toNanos();
    List<String> behind = behind(invariants, outboxTable);
    while (!behind.isEmpty() && System.nanoTime() < deadline) {
      fleet.reviveCrashed();
      Sleep.millis(500);
      behind = behind(invariants, outboxTable);
    }
    log.note(
        behind.isEmpty()
            ? "every partition consumed and committed"
                + (outboxTable == null ? "" : ", every outbox row sent")
            : "drain timeout " + options.drainTimeout() + ": " + behind);
    return behind;
  }

  private static List<String> behind(Invariants invariants, String outboxTable) {
    List<String> behind = new ArrayList<>(invariants.partitionsNotAtEnd());
    if (outboxTable != null && behind.isEmpty()) {
      try {
        long unsent = invariants.outboxUnsent(outboxTable);
        if (unsent > 0) {
          behind.add(outboxTable + ": " + unsent + " rows not yet sent");
        }
      } catch (SQLException e) {
        behind.add(outboxTable + " unreadable: " + e);
      }
    }
    return behind;
  }

  private void awaitAssigned(ConsumerFleet fleet, int partitions) {
    long deadline = System.nanoTime() + ASSIGNMENT_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      int assigned = 0;
      for (int slot : fleet.runningSlots()) {
        ConsumerProcess p = fleet.running(slot);
        assigned += p == null ? 0 : p.assigned();
      }
      if (assigned == partitions) {
        return;
      }
      Sleep.millis(100);
    }
    throw new ChaosException(
        "the consumers did not own all partitions within " + ASSIGNMENT_TIMEOUT);
  }

  /** Waits until the stopped consumers' sessions are gone; returns how many remain. */
  private int awaitSessionsGone(Invariants invariants) throws SQLException {
    long deadline = System.nanoTime() + SESSIONS_GONE_TIMEOUT.toNanos();
    int sessions = invariants.consumerSessions();
    while (sessions > 0 && System.nanoTime() < deadline) {
      Sleep.millis(100);
      sessions = invariants.consumerSessions();
    }
    return sessions;
  }

  private void report(ChaosResult result) {
    String line = result.summaryLine();
    System.out.println(line);
    StringBuilder text = new StringBuilder(line).append(System.lineSeparator());
    for (String v : result.violations()) {
      text.append("VIOLATION ").append(v).append(System.lineSeparator());
    }
    for (String s : result.effects().samples()) {
      text.append("  ").append(s).append(System.lineSeparator());
    }
    if (!result.violations().isEmpty()) {
      System.out.print(text.substring(line.length() + System.lineSeparator().length()));
    }
    try {
      Files.writeString(directory.resolve("summary.txt"), text, StandardCharsets.UTF_8);
      Files.writeString(
          baseDirectory().resolve("runs.md"),
          result.markdownRow() + System.lineSeparator(),
          StandardCharsets.UTF_8,
          StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      log.note("cannot write the summary: " + e);
    }
  }
}
