package dev.idem.lock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.testkit.pg.PostgresServer;
import dev.idem.testkit.pg.SharedPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

class LeaderElectionTest {
  private static final PostgresServer PG = SharedPostgres.server();
  private static final Duration PING = Duration.ofMillis(200);

  @Test
  void aLeaderWhoseElectedCallbackIsSlowKeepsItsLeadership() throws Exception {
    // Longer than three ping intervals and than the leader session's idle_session_timeout (1 s
    // at this ping): a callback on the ping thread would let the server end the leader's session.
    Duration slow = Duration.ofMillis(1600);
    Recorder listener = new Recorder(slow);
    String schema = SharedPostgres.uniqueName("slow_leader");
    LeaderElection election =
        locks(schema, "slow")
            .leaderElection("roles", SharedPostgres.uniqueName("role"), PING, listener);
    try {
      election.start();
      await().atMost(Duration.ofSeconds(10)).until(() -> listener.electedStarted);
      FencingToken token = election.token().orElseThrow();
      long pid = holderPid(election.key());
      assertThat(pid).as("the leader's backend holds the role lock").isPositive();

      await()
          .atMost(slow.multipliedBy(4))
          .pollInterval(Duration.ofMillis(50))
          .until(
              () -> {
                assertLeadershipKept(election, listener, token, pid);
                return listener.electedReturned;
              });
      // And for a few ping intervals after the slow callback returned.
      await()
          .during(PING.multipliedBy(3))
          .atMost(Duration.ofSeconds(5))
          .pollInterval(Duration.ofMillis(50))
          .until(
              () -> {
                assertLeadershipKept(election, listener, token, pid);
                return true;
              });
      assertThat(currentEpoch(schema, election.key())).isEqualTo(token.epoch());
    } finally {
      election.close();
    }
    assertThat(listener.events)
        .as("close() fires revoked and waits for it, after the elected it follows")
        .containsExactly("elected " + 1, "revoked " + 1);
  }

  @Test
  void aCallbackThatThrowsDoesNotStopTheOnesAfterIt() {
    Recorder listener = new Recorder(Duration.ZERO);
    listener.throwOnElected = true;
    LeaderElection election =
        locks(SharedPostgres.uniqueName("throwing_listener"), "throwing")
            .leaderElection("roles", SharedPostgres.uniqueName("role"), PING, listener);
    try {
      election.start();
      await().atMost(Duration.ofSeconds(10)).until(() -> listener.electedReturned);
    } finally {
      election.close();
    }
    assertThat(listener.events).containsExactly("elected 1", "revoked 1");
  }

  @Test
  void aNewElectorWaitingForAStaleLeadersFencedWriteLetsGoOfTheRoleAndLeadsWhenItEnds()
      throws Exception {
    String schema = SharedPostgres.uniqueName("blocked_epoch");
    String role = SharedPostgres.uniqueName("role");
    Recorder staleListener = new Recorder(Duration.ZERO);
    LeaderElection stale =
        locks(schema, "stale").leaderElection("roles", role, PING, staleListener);
    Recorder nextListener = new Recorder(Duration.ZERO);
    LeaderElection next = locks(schema, "next").leaderElection("roles", role, PING, nextListener);
    try (Connection staleWrite = PG.dataSource().getConnection()) {
      stale.start();
      await().atMost(Duration.ofSeconds(10)).until(stale::isLeader);
      FencingToken staleToken = stale.token().orElseThrow();
      // The stale leader's write is still in flight: its transaction passed the fencing check
      // (which share-locks the epoch row) and has not ended.
      staleWrite.setAutoCommit(false);
      staleToken.check(staleWrite);
      stale.close();
      assertThat(holders(stale.key())).isZero();

      next.start();
      await()
          .atMost(Duration.ofSeconds(10))
          .pollInterval(Duration.ofMillis(10))
          .until(() -> holders(next.key()) == 1);
      await("the new elector lets go of the role while it cannot start an epoch")
          .atMost(Duration.ofSeconds(5))
          .pollInterval(Duration.ofMillis(10))
          .until(() -> holders(next.key()) == 0);
      await("and tries again")
          .atMost(Duration.ofSeconds(5))
          .pollInterval(Duration.ofMillis(10))
          .until(() -> holders(next.key()) == 1);
      assertThat(next.isLeader()).isFalse();
      assertThat(currentEpoch(schema, next.key())).isEqualTo(staleToken.epoch());

      staleWrite.commit();
      long ended = System.nanoTime();
      await().atMost(Duration.ofSeconds(5)).until(next::isLeader);
      assertThat(Duration.ofNanos(System.nanoTime() - ended))
          .as("leads within a few ping intervals of the write's end")
          .isLessThan(PING.multipliedBy(10));
      assertThat(next.token().orElseThrow().epoch()).isEqualTo(staleToken.epoch() + 1);
      assertThat(currentEpoch(schema, next.key())).isEqualTo(staleToken.epoch() + 1);
      await().atMost(Duration.ofSeconds(5)).until(() -> nextListener.electedReturned);
      assertThat(nextListener.events).containsExactly("elected " + (staleToken.epoch() + 1));
    } finally {
      stale.close();
      next.close();
    }
  }

  private static void assertLeadershipKept(
      LeaderElection election, Recorder listener, FencingToken token, long pid)
      throws SQLException {
    assertThat(listener.events).as("callbacks so far").containsExactly("elected " + token.epoch());
    assertThat(election.token()).contains(token);
    assertThat(holderPid(election.key())).as("backend holding the role lock").isEqualTo(pid);
  }

  private static AdvisoryLocks locks(String schema, String holder) {
    return AdvisoryLocks.builder(ConnectionFactory.unpooled(PG.dataSource()))
        .schema(schema)
        .holder(holder)
        .build();
  }

  private static String lockOf(LockKey key) {
    return " FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::int = "
        + key.classId()
        + " AND objid::int = "
        + key.objectId()
        + " AND objsubid = "
        + key.objectSubId();
  }

  private static long holders(LockKey key) throws SQLException {
    return query("SELECT count(*)" + lockOf(key));
  }

  /** The backend holding the role's lock, or 0. */
  private static long holderPid(LockKey key) throws SQLException {
    return query("SELECT coalesce(max(pid), 0)" + lockOf(key));
  }

  private static long currentEpoch(String schema, LockKey key) throws SQLException {
    return query(
        "SELECT epoch FROM "
            + schema
            + ".leader_epochs WHERE namespace = '"
            + key.namespace()
            + "' AND name = '"
            + key.name()
            + "'");
  }

  private static long query(String sql) throws SQLException {
    try (Connection c = PG.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** Records the callbacks in order; elected() can be slow or throw. */
  static final class Recorder implements LeaderListener {
    final List<String> events = new CopyOnWriteArrayList<>();
    private final Duration electedTakes;
    volatile boolean throwOnElected;
    volatile boolean electedStarted;
    volatile boolean electedReturned;

    Recorder(Duration electedTakes) {
      this.electedTakes = electedTakes;
    }

    @Override
    public void elected(FencingToken token) {
      events.add("elected " + token.epoch());
      electedStarted = true;
      try {
        // The slow work of a callback (or a long GC pause), not a wait for another thread.
        Thread.sleep(electedTakes.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        electedReturned = true;
      }
      if (throwOnElected) {
        throw new IllegalStateException("the listener broke");
      }
    }

    @Override
    public void revoked(FencingToken token) {
      events.add("revoked " + token.epoch());
    }
  }
}
