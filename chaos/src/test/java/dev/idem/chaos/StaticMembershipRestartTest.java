package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Recovery after kill -9: a consumer process in the middle of a stream of webhooks is killed with
 * SIGKILL and started again at once, with Kafka's default 45 s session timeout. The figure is the
 * time from the restart to the first event the new process applied (read from the ledger's commit
 * timestamps), printed and asserted.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class StaticMembershipRestartTest {
  private static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(45);

  @Test
  void aStaticMemberKilledWithKill9AppliesEventsAgainSoonAfterItsRestart() throws Exception {
    Recovery r = killAndRestart("static", true);
    System.out.println(r.line());
    assertThat(r.restartToFirstApplied())
        .as(
            "restart to the first applied event, with a %s session timeout",
            DEFAULT_SESSION_TIMEOUT)
        .isLessThan(Duration.ofSeconds(20));
    assertThat(r.appliedTwice()).as("events applied twice").isZero();
  }

  /** The comparison for the docs: the same with dynamic membership waits for the session. */
  @Test
  @EnabledIfSystemProperty(named = "idem.soak", matches = "true")
  void aDynamicMemberKilledWithKill9AppliesNothingUntilTheDeadSessionExpired() throws Exception {
    Recovery r = killAndRestart("dynamic", false);
    System.out.println(r.line());
    assertThat(r.restartToFirstApplied()).isGreaterThan(Duration.ofSeconds(20));
    assertThat(r.appliedTwice()).as("events applied twice").isZero();
  }

  /**
   * @param restartToReady from the restart to the new process's start-up being done
   * @param restartToFirstApplied from the restart to the commit of its first applied event
   */
  record Recovery(
      String membership,
      Duration restartToReady,
      Duration restartToFirstApplied,
      long appliedTwice) {
    String line() {
      return String.format(
          "kill -9 recovery, %s membership, session timeout %d s: restart to ready %.1f s, restart"
              + " to first applied event %.1f s",
          membership,
          DEFAULT_SESSION_TIMEOUT.toSeconds(),
          restartToReady.toMillis() / 1000.0,
          restartToFirstApplied.toMillis() / 1000.0);
    }
  }

  private static Recovery killAndRestart(String label, boolean staticMembership) throws Exception {
    ChaosCluster cluster = SharedCluster.get();
    String name = cluster.nextRunName(label + "-restart");
    String topicA = name + "_a";
    String topicB = name + "_b";
    ChaosOptions options =
        ChaosOptions.builder(label).partitions(4).rate(100).poisonRate(0).faults().build();
    TestInfrastructure.createTopics(
        cluster.broker().bootstrapServers(), options.partitions(), Map.of(), topicA, topicB);
    try (Connection c = cluster.connect()) {
      Ledger.reset(c);
    }
    Path directory = ChaosRun.baseDirectory().resolve(name);
    Files.createDirectories(directory);
    // Run names repeat between invocations: the logs start empty.
    try (var old = Files.list(directory)) {
      for (Path p : old.toList()) {
        Files.delete(p);
      }
    }
    List<String> args =
        List.of(
            "group=" + name,
            "bootstrap=" + cluster.broker().bootstrapServers(),
            "jdbc=" + cluster.consumerJdbcUrl(),
            "user=" + cluster.postgres().user(),
            "application=" + ChaosRun.APPLICATION_NAME,
            "topics=" + topicA + "," + topicB,
            "session-timeout-ms=" + DEFAULT_SESSION_TIMEOUT.toMillis(),
            "static-membership=" + staticMembership);
    FaultLog log = new FaultLog(directory.resolve("faults.log"), "[" + name + "] ");
    Workload workload = new Workload(options, name, topicA, topicB);
    try (ConsumerFleet fleet = new ConsumerFleet(1, slot -> args, directory, log);
        WorkloadProducer producer =
            new WorkloadProducer(cluster.broker().bootstrapServers(), workload, options.rate())) {
      ConsumerProcess first = fleet.start(0);
      producer.start();
      awaitUntil(
          Duration.ofSeconds(60),
          "the first process applies events",
          () -> applied(cluster, first.name()) >= 200);

      fleet.kill(0);
      Instant restart = Instant.now();
      ConsumerProcess second = fleet.start(0);
      Duration toReady = Duration.between(restart, Instant.now());
      awaitUntil(
          DEFAULT_SESSION_TIMEOUT.plusSeconds(30),
          "the restarted process applies events",
          () -> applied(cluster, second.name()) > 0);
      Instant firstApplied = firstApplied(cluster, second.name());
      producer.stop();
      log.note(
          "restart at " + restart + ", first applied by " + second.name() + " at " + firstApplied);
      return new Recovery(
          label,
          toReady,
          Duration.between(restart, firstApplied),
          appliedTwice(cluster, topicA, topicB));
    }
  }

  private static long applied(ChaosCluster cluster, String consumer) throws SQLException {
    try (Connection c = cluster.connect();
        PreparedStatement ps =
            c.prepareStatement("SELECT count(*) FROM " + Ledger.TABLE + " WHERE consumer = ?")) {
      ps.setString(1, consumer);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  private static Instant firstApplied(ChaosCluster cluster, String consumer) throws SQLException {
    try (Connection c = cluster.connect();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT min(applied_at) FROM " + Ledger.TABLE + " WHERE consumer = ?")) {
      ps.setString(1, consumer);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        Timestamp at = rs.getTimestamp(1);
        return at.toInstant();
      }
    }
  }

  /** Ledger rows beyond one per event: zero unless an event was applied twice. */
  private static long appliedTwice(ChaosCluster cluster, String topicA, String topicB)
      throws SQLException {
    try (Connection c = cluster.connect();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT count(*) - count(DISTINCT event_id) FROM "
                    + Ledger.TABLE
                    + " WHERE topic IN (?, ?)")) {
      ps.setString(1, topicA);
      ps.setString(2, topicB);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  @FunctionalInterface
  private interface Check {
    boolean holds() throws Exception;
  }

  private static void awaitUntil(Duration timeout, String what, Check check) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!check.holds()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(what + ": not within " + timeout);
      }
      TimeUnit.MILLISECONDS.sleep(50);
    }
  }
}
