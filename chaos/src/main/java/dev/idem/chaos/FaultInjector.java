package dev.idem.chaos;

import dev.idem.testkit.pg.PgProxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Injects one fault at a time into a run's cluster and fleet, with every choice (which consumer,
 * how long a server stays down) drawn from the run's seeded random source. Each fault returns once
 * the system is whole again: killed consumers are restarted and ready, servers are back.
 *
 * <p>A fault that ends a consumer process (kill, halt, graceful stop) never picks one that runs a
 * hung or slow-failing handler on the share group's last delivery of its record: the broker
 * archives a record whose last delivery's holder goes away, before idem can leave a dead letter
 * (docs/share-groups.md), and such records reach their last delivery by design. It waits for a
 * process that holds none; any earlier delivery, and every healthy record, is fair game. A halt
 * also prefers a process that runs no such handler at all: one that does acquires nothing until the
 * handler ends, so its next commit, and the halt, would wait for that.
 */
final class FaultInjector {
  private static final Duration HALT_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration SCALE_IN_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration COMMIT_DROP_TIMEOUT = Duration.ofSeconds(30);
  private static final int COMMIT_REPLIES_DROPPED = 3;
  private static final Duration HOLDER_WAIT = Duration.ofSeconds(30);

  private final ChaosCluster cluster;
  private final ConsumerFleet fleet;
  private final FaultLog log;
  private final Random random;
  private final String applicationName;
  private final int partitions;
  private long terminatedSessions;
  private long ambiguousCommits;

  /**
   * @param applicationName the {@code application_name} of the consumers' database sessions
   * @param partitions the partitions of all topics together, which the last consumer of a scale-in
   *     must take (zero in a share group, whose members report none)
   */
  FaultInjector(
      ChaosCluster cluster,
      ConsumerFleet fleet,
      FaultLog log,
      Random random,
      String applicationName,
      int partitions) {
    this.cluster = cluster;
    this.fleet = fleet;
    this.log = log;
    this.random = random;
    this.applicationName = applicationName;
    this.partitions = partitions;
  }

  /** Injects {@code fault}, waits until the system is whole, and logs it. */
  void inject(Fault fault) {
    Instant at = Instant.now();
    String detail =
        switch (fault) {
          case KILL -> kill();
          case GRACEFUL_RESTART -> gracefulRestart();
          case SCALE_IN_OUT -> scaleInAndOut();
          case TERMINATE_SESSIONS -> terminateSessions();
          case POSTGRES_RESTART -> restartPostgres();
          case BROKER_RESTART -> restartBroker();
          case HALT_AFTER_COMMIT -> haltAfterCommit();
          case AMBIGUOUS_COMMIT -> ambiguousCommit();
          case RELAY_HALT -> haltRelayAfterSend();
        };
    log.fault(fault, at, detail);
  }

  long terminatedSessions() {
    return terminatedSessions;
  }

  long ambiguousCommits() {
    return ambiguousCommits;
  }

  private String kill() {
    int slot = victimSlot(false);
    ConsumerProcess victim = fleet.running(slot);
    fleet.kill(slot);
    long down = pause(1000, 2000);
    ConsumerProcess next = fleet.start(slot);
    return "kill -9 " + victim + ", restarted as " + next.name() + " after " + down + " ms";
  }

  private String gracefulRestart() {
    int slot = victimSlot(false);
    ConsumerProcess victim = fleet.running(slot);
    boolean graceful = fleet.stop(slot);
    ConsumerProcess next = fleet.start(slot);
    return "stopped "
        + victim
        + (graceful ? " gracefully" : " (had to be killed)")
        + ", started "
        + next.name();
  }

  private String scaleInAndOut() {
    List<Integer> running = fleet.runningSlots();
    if (running.size() < 2) {
      return "skipped: fewer than two consumers run";
    }
    int survivor = survivorSlot();
    List<Integer> stopped = new ArrayList<>(fleet.runningSlots());
    stopped.remove(Integer.valueOf(survivor));
    fleet.stopAll(stopped);
    ConsumerProcess last = fleet.running(survivor);
    boolean tookAll = awaitAssigned(last, partitions, SCALE_IN_TIMEOUT);
    fleet.startAll();
    return "scaled in to "
        + last
        + (tookAll ? " (took all " + partitions + " partitions)" : " (did not take all in time)")
        + ", then out to "
        + fleet.runningSlots().size();
  }

  private String terminateSessions() {
    long count = 0;
    try (Connection c = cluster.connect();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    + " WHERE application_name = ? AND pid <> pg_backend_pid()")) {
      ps.setString(1, applicationName);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        count = rs.getLong(1);
      }
    } catch (SQLException e) {
      throw new ChaosException("pg_terminate_backend failed", e);
    }
    terminatedSessions += count;
    return "terminated " + count + " consumer sessions";
  }

  private String restartPostgres() {
    return restart("PostgreSQL", cluster.postgres()::stop, cluster.postgres()::start);
  }

  private String restartBroker() {
    return restart("broker", cluster.broker()::stop, cluster.broker()::start);
  }

  /** Stops a server, keeps it down for a seeded 1 to 2 s, starts it; says how long each took. */
  private String restart(String server, Runnable stop, Runnable start) {
    long stopping = System.nanoTime();
    stop.run();
    long stopped = System.nanoTime();
    long down = pause(1000, 2000);
    long starting = System.nanoTime();
    start.run();
    return server
        + " stopped in "
        + millisSince(stopping, stopped)
        + " ms, down "
        + down
        + " ms, started in "
        + millisSince(starting, System.nanoTime())
        + " ms";
  }

  private static long millisSince(long fromNanos, long toNanos) {
    return (toNanos - fromNanos) / 1_000_000;
  }

  private String haltAfterCommit() {
    int slot = victimSlot(true);
    ConsumerProcess victim = fleet.running(slot);
    String at = fleet.haltAfterCommit(slot, HALT_TIMEOUT);
    long down = pause(1000, 1000);
    ConsumerProcess next = fleet.start(slot);
    return (at == null
            ? victim + " committed nothing within " + HALT_TIMEOUT + "; killed instead"
            : victim + " halted after the database commit of " + at)
        + ", restarted as "
        + next.name()
        + " after "
        + down
        + " ms";
  }

  private String haltRelayAfterSend() {
    ConsumerFleet.RelayHalt halted = fleet.haltRelayAfterSend(HALT_TIMEOUT);
    if (halted == null) {
      return "no relay halted after a Kafka commit within " + HALT_TIMEOUT;
    }
    long down = pause(1000, 1000);
    ConsumerProcess next = fleet.start(halted.slot());
    return halted.process()
        + " halted after its relay's Kafka commit ("
        + halted.at()
        + "), before the mark; restarted as "
        + next.name()
        + " after "
        + down
        + " ms";
  }

  private String ambiguousCommit() {
    PgProxy proxy = cluster.proxy();
    long before = proxy.droppedCommitReplies();
    proxy.dropCommitReplies(COMMIT_REPLIES_DROPPED);
    long deadline = System.nanoTime() + COMMIT_DROP_TIMEOUT.toNanos();
    while (proxy.armedCommitDrops() > 0 && System.nanoTime() < deadline) {
      Sleep.millis(50);
    }
    int unused = proxy.armedCommitDrops();
    proxy.dropCommitReplies(0);
    // A drop is claimed when its COMMIT is forwarded and counted when the server's reply arrived.
    Sleep.millis(500);
    long dropped = proxy.droppedCommitReplies() - before;
    ambiguousCommits += dropped;
    return "dropped the replies to "
        + dropped
        + " committed COMMITs ("
        + (COMMIT_REPLIES_DROPPED - unused - dropped)
        + " more COMMITs answered with an error or ROLLBACK, "
        + unused
        + " drops unused)";
  }

  /**
   * A running consumer to end, drawn from the seed among those that hold no record on its last
   * delivery (see the class comment), and when {@code idle} among those of them that run no hung or
   * slow-failing handler if there are any; after {@link #HOLDER_WAIT} without one, any.
   */
  private int victimSlot(boolean idle) {
    long start = System.nanoTime();
    while (true) {
      List<Integer> running = fleet.runningSlots();
      if (running.isEmpty()) {
        throw new ChaosException("no consumer runs");
      }
      List<Integer> free = running.stream().filter(slot -> holding(slot) == 0).toList();
      List<Integer> unstalled = free.stream().filter(slot -> slowHandlers(slot) == 0).toList();
      if (idle && !unstalled.isEmpty()) {
        free = unstalled;
      }
      boolean late = System.nanoTime() - start > HOLDER_WAIT.toNanos();
      if (!free.isEmpty() || late) {
        noteWait(start, late);
        List<Integer> from = free.isEmpty() ? running : free;
        return from.get(random.nextInt(from.size()));
      }
      Sleep.millis(100);
    }
  }

  /**
   * The consumer a scale-in keeps: once at most one holds a record on its last delivery, that one,
   * else one drawn from the seed; after {@link #HOLDER_WAIT}, any.
   */
  private int survivorSlot() {
    long start = System.nanoTime();
    while (true) {
      List<Integer> running = fleet.runningSlots();
      List<Integer> holders = running.stream().filter(slot -> holding(slot) > 0).toList();
      boolean late = System.nanoTime() - start > HOLDER_WAIT.toNanos();
      if (holders.size() <= 1 || late) {
        noteWait(start, late);
        return holders.size() == 1 ? holders.get(0) : running.get(random.nextInt(running.size()));
      }
      Sleep.millis(100);
    }
  }

  private int holding(int slot) {
    ConsumerProcess p = fleet.running(slot);
    return p == null ? 0 : p.holdingLast();
  }

  private int slowHandlers(int slot) {
    ConsumerProcess p = fleet.running(slot);
    return p == null ? 0 : p.slowHandlers();
  }

  private void noteWait(long startNanos, boolean late) {
    long waited = millisSince(startNanos, System.nanoTime());
    if (late) {
      log.note("every consumer held a record on its last delivery for " + waited + " ms; took one");
    } else if (waited >= 100) {
      log.note("waited " + waited + " ms for a consumer holding no record on its last delivery");
    }
  }

  private static boolean awaitAssigned(ConsumerProcess p, int count, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (p != null && p.assigned() == count) {
        return true;
      }
      Sleep.millis(100);
    }
    return false;
  }

  private long pause(int minMillis, int maxMillis) {
    long millis = minMillis + (maxMillis > minMillis ? random.nextInt(maxMillis - minMillis) : 0);
    Sleep.millis(millis);
    return millis;
  }
}
