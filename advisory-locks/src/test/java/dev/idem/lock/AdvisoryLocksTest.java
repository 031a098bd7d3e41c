package dev.idem.lock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.pg.PostgresServer;
import dev.idem.testkit.pg.SharedPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class AdvisoryLocksTest {
  private static final PostgresServer PG = SharedPostgres.server();
  private static HikariDataSource pool;
  private static String poolName;

  @BeforeAll
  static void openPool() {
    poolName = SharedPostgres.uniqueName("lockpool");
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(PG.jdbcUrl());
    c.setUsername(PG.user());
    c.setPassword(PG.password());
    c.setMaximumPoolSize(4);
    // Only the pool's own connections run connectionInitSql, so the application name tells them
    // apart from lock connections, which carry the pool's driver settings but not this.
    c.setConnectionInitSql("SET application_name = '" + poolName + "'");
    pool = new HikariDataSource(c);
  }

  @AfterAll
  static void closePool() {
    pool.close();
  }

  static AdvisoryLocks locks() {
    return AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
  }

  static long query(String sql) throws SQLException {
    try (Connection c = PG.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  static long held(LockKey key) throws SQLException {
    return query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            + " AND classid::int = "
            + key.classId()
            + " AND objid::int = "
            + key.objectId()
            + " AND objsubid = "
            + key.objectSubId());
  }

  static long advisoryLocksOnPooledConnections() throws SQLException {
    return query(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            + " WHERE l.locktype = 'advisory' AND a.application_name = '"
            + poolName
            + "'");
  }

  @Test
  void aSessionLockWhoseWorkThrowsIsReleased() throws Exception {
    AdvisoryLocks locks = locks();
    String job = SharedPostgres.uniqueName("throwing_job");
    LockKey key = LockKey.of("idem.jobs", job);
    assertThatThrownBy(
            () ->
                locks.runExclusive(
                    job,
                    () -> {
                      assertThat(held(key)).isEqualTo(1);
                      throw new IllegalStateException("the job broke");
                    }))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("the job broke");
    assertThat(held(key)).isZero();

    LockKey other = LockKey.of(SharedPostgres.uniqueName("ns"), "report");
    assertThatThrownBy(
            () -> {
              try (SessionLock lock = locks.lockSession(other, Duration.ofSeconds(5))) {
                assertThat(held(other)).isEqualTo(1);
                throw new IllegalStateException("work failed");
              }
            })
        .hasMessage("work failed");
    assertThat(held(other)).isZero();
    assertThat(advisoryLocksOnPooledConnections()).isZero();
  }

  @Test
  void pairAndBigintKeysOfTheSameNumbersDoNotCollide() throws Exception {
    AdvisoryLocks locks = locks();
    LockKey pair = LockKey.of(SharedPostgres.uniqueName("pairs"), 500);
    long sameNumbers = ((long) pair.classId() << 32) | (pair.objectId() & 0xFFFFFFFFL);
    try (SessionLock held = locks.lockSession(pair, Duration.ofSeconds(5));
        Connection c = PG.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_try_advisory_lock(" + sameNumbers + ")")) {
      rs.next();
      assertThat(rs.getBoolean(1)).as("bigint lock with the pair's numbers is free").isTrue();
      assertThat(held(pair)).isEqualTo(1);
    }
  }

  @Test
  void theSameNameInTwoNamespacesDoesNotCollide() {
    AdvisoryLocks locks = locks();
    String name = SharedPostgres.uniqueName("shared_name");
    try (SessionLock a =
        locks.lockSession(LockKey.of("namespace-a", name), Duration.ofSeconds(5))) {
      Optional<SessionLock> b = locks.tryLockSession(LockKey.of("namespace-b", name));
      assertThat(b).isPresent();
      b.get().close();
      assertThat(locks.tryLockSession(LockKey.of("namespace-a", name))).isEmpty();
    }
  }

  @Test
  void exactlyOneOfThreeInstancesRunsAnExclusiveJobInEveryRound() throws Exception {
    List<AdvisoryLocks> instances = List.of(locks(), locks(), locks());
    String job = SharedPostgres.uniqueName("exclusive");
    ExecutorService threads = Executors.newFixedThreadPool(3);
    try {
      for (int round = 0; round < 50; round++) {
        CountDownLatch othersReturned = new CountDownLatch(2);
        CyclicBarrier together = new CyclicBarrier(3);
        AtomicInteger ran = new AtomicInteger();
        List<Future<RunResult<Integer>>> results = new ArrayList<>();
        for (AdvisoryLocks instance : instances) {
          results.add(
              threads.submit(
                  () -> {
                    together.await(10, TimeUnit.SECONDS);
                    RunResult<Integer> r =
                        instance.runExclusive(
                            job,
                            () -> {
                              ran.incrementAndGet();
                              // Hold the job until both others have tried and returned.
                              assertThat(othersReturned.await(10, TimeUnit.SECONDS)).isTrue();
                              return 1;
                            });
                    if (r.skipped()) {
                      othersReturned.countDown();
                    }
                    return r;
                  }));
        }
        int skipped = 0;
        for (Future<RunResult<Integer>> f : results) {
          RunResult<Integer> r = f.get(30, TimeUnit.SECONDS);
          if (r.skipped()) {
            skipped++;
            assertThat(r.skipReason()).contains("running on another instance");
          }
        }
        assertThat(ran.get()).as("round %d", round).isEqualTo(1);
        assertThat(skipped).as("round %d", round).isEqualTo(2);
      }
    } finally {
      threads.shutdownNow();
    }
  }

  @Test
  void aJobRunsAtMostOncePerWindowHoweverLateSchedulersFire() throws Exception {
    MutableClock clock = new MutableClock(java.time.Instant.parse("2026-11-21T00:00:05Z"));
    String schema = SharedPostgres.uniqueName("jobs");
    List<AdvisoryLocks> schedulers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      schedulers.add(
          AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool))
              .schema(schema)
              .clock(clock)
              .build());
    }
    String job = "daily-report";
    AtomicInteger runs = new AtomicInteger();
    // Three schedulers fire at different moments of the same day.
    for (int i = 0; i < 3; i++) {
      clock.set(java.time.Instant.parse("2026-11-21T00:00:05Z").plus(Duration.ofHours(7 * i)));
      RunResult<Integer> r =
          schedulers.get(i).runOncePerWindow(job, Duration.ofDays(1), runs::incrementAndGet);
      assertThat(r.ran()).as("scheduler %d", i).isEqualTo(i == 0);
    }
    assertThat(runs.get()).isEqualTo(1);
    clock.set(java.time.Instant.parse("2026-11-22T03:00:00Z"));
    assertThat(
            schedulers
                .get(2)
                .runOncePerWindow(job, Duration.ofDays(1), runs::incrementAndGet)
                .ran())
        .isTrue();
    assertThat(
            schedulers
                .get(0)
                .runOncePerWindow(job, Duration.ofDays(1), runs::incrementAndGet)
                .skipReason())
        .contains("already ran in the window starting 2026-11-22T00:00:00Z");
    assertThat(runs.get()).isEqualTo(2);
  }

  @Test
  void aTimeoutNamesTheKeyAndLeavesTheCallersLockTimeoutAlone() throws Exception {
    AdvisoryLocks locks = locks();
    LockKey key = LockKey.of(SharedPostgres.uniqueName("timeouts"), "contended");
    try (SessionLock holder = locks.lockSession(key, Duration.ofSeconds(5));
        Connection tx = pool.getConnection()) {
      tx.setAutoCommit(false);
      try (Statement s = tx.createStatement()) {
        s.execute("SET LOCAL lock_timeout = '7s'");
      }
      long start = System.nanoTime();
      assertThatThrownBy(() -> locks.lock(tx, key, Duration.ofMillis(300)))
          .isInstanceOf(LockTimeoutException.class)
          .hasMessageContaining(key.toString())
          .satisfies(e -> assertThat(((LockTimeoutException) e).key()).isEqualTo(key));
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
      try (Statement s = tx.createStatement();
          ResultSet rs = s.executeQuery("SHOW lock_timeout")) {
        rs.next();
        assertThat(rs.getString(1)).as("transaction still usable, setting kept").isEqualTo("7s");
      }
      assertThat(locks.tryLock(tx, key)).isFalse();
      tx.rollback();

      assertThatThrownBy(() -> locks.lockSession(key, Duration.ofMillis(200)))
          .isInstanceOf(LockTimeoutException.class)
          .hasMessageContaining(key.toString());
    }
    assertThat(held(key)).isZero();
  }

  @Test
  void transactionLocksAreReleasedAtCommitAndTryVariantsSkip() throws Exception {
    AdvisoryLocks locks = locks();
    LockKey key = LockKey.of(SharedPostgres.uniqueName("tx"), 500);
    Integer value =
        locks.inTransaction(
            pool,
            key,
            Duration.ofSeconds(5),
            c -> {
              assertThat(held(key)).isEqualTo(1);
              return 42;
            });
    assertThat(value).isEqualTo(42);
    assertThat(held(key)).isZero();
    try (SessionLock other = locks.lockSession(key, Duration.ofSeconds(5))) {
      RunResult<Integer> r = locks.tryInTransaction(pool, key, c -> 1);
      assertThat(r.skipped()).isTrue();
    }
    assertThatThrownBy(
            () -> {
              try (Connection c = pool.getConnection()) {
                locks.lock(c, key, Duration.ofSeconds(1));
              }
            })
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("autocommit");
    assertThat(advisoryLocksOnPooledConnections()).isZero();
  }

  @Test
  void sessionFeaturesAreRefusedBehindATransactionModePooler() {
    AdvisoryLocks behindPooler = AdvisoryLocks.builder(AdvisoryLocksTest::poolerConnection).build();
    LockKey key = LockKey.of(SharedPostgres.uniqueName("pooler"), "x");
    assertThatThrownBy(() -> behindPooler.tryLockSession(key))
        .isInstanceOf(TransactionPoolerException.class)
        .hasMessageContaining("transaction-mode pooler");
    assertThatThrownBy(() -> behindPooler.runExclusive("job", () -> 1))
        .isInstanceOf(TransactionPoolerException.class);
  }

  /**
   * What a transaction-mode pooler does to a client connection: each transaction (here, each
   * autocommit statement) runs on whichever server connection is free, alternating between two.
   */
  static Connection poolerConnection() throws SQLException {
    Connection[] servers = {PG.dataSource().getConnection(), PG.dataSource().getConnection()};
    AtomicInteger next = new AtomicInteger();
    return (Connection)
        Proxy.newProxyInstance(
            AdvisoryLocksTest.class.getClassLoader(),
            new Class<?>[] {Connection.class},
            (proxy, method, args) -> {
              if (method.getName().equals("close")) {
                servers[0].close();
                servers[1].close();
                return null;
              }
              Connection server =
                  method.getName().equals("createStatement")
                          || method.getName().equals("prepareStatement")
                      ? servers[next.getAndIncrement() % 2]
                      : servers[0];
              try {
                return method.invoke(server, args);
              } catch (java.lang.reflect.InvocationTargetException e) {
                throw e.getCause();
              }
            });
  }

  @Test
  void aTerminatedLeaderStepsDownAndANewerEpochFencesItsWrites() throws Exception {
    String schema = SharedPostgres.uniqueName("leaders");
    String role = SharedPostgres.uniqueName("role");
    Duration ping = Duration.ofMillis(500);
    String table = schema + ".fenced";
    List<Elector> electors = new ArrayList<>();
    List<SimpleMeterRegistry> registries = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        registries.add(new SimpleMeterRegistry()); // one per process, as in production
        AdvisoryLocks locks =
            AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool))
                .schema(schema)
                .holder("elector-" + i)
                .meterRegistry(registries.get(registries.size() - 1))
                .build();
        Elector e = new Elector();
        e.election = locks.leaderElection("roles", role, ping, e);
        electors.add(e);
      }
      electors.forEach(e -> e.election.start());
      await().atMost(Duration.ofSeconds(20)).until(() -> leaders(electors).size() == 1);
      Elector first = leaders(electors).get(0);
      FencingToken firstToken = first.election.token().orElseThrow();
      try (Connection c = pool.getConnection();
          Statement s = c.createStatement()) {
        s.execute("CREATE TABLE " + table + " (id int PRIMARY KEY, written_by_epoch bigint)");
        s.execute("INSERT INTO " + table + " VALUES (1, 0)");
      }
      fencedWrite(firstToken);

      long pid =
          query(
              "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::int = "
                  + first.election.key().classId()
                  + " AND objid::int = "
                  + first.election.key().objectId()
                  + " AND objsubid = 1");
      long terminatedAt = System.nanoTime();
      assertThat(query("SELECT count(pg_terminate_backend(" + pid + "))")).isEqualTo(1);
      await().atMost(Duration.ofSeconds(10)).until(() -> first.revokedAt > 0);
      assertThat(Duration.ofNanos(first.revokedAt - terminatedAt))
          .as("revoked within two ping intervals")
          .isLessThan(ping.multipliedBy(2));

      await()
          .atMost(Duration.ofSeconds(20))
          .until(() -> leaders(electors).size() == 1 && !leaders(electors).contains(first));
      FencingToken second = leaders(electors).get(0).election.token().orElseThrow();
      assertThat(second.epoch()).isGreaterThan(firstToken.epoch());
      fencedWrite(second);
      assertThatThrownBy(() -> fencedWrite(firstToken))
          .isInstanceOf(StaleLeaderException.class)
          .hasMessageContaining("epoch " + firstToken.epoch());
      assertThat(query("SELECT written_by_epoch FROM " + table)).isEqualTo(second.epoch());
      assertThat(
              registries.stream()
                  .mapToDouble(r -> r.get("idem.leader.active").tags("name", role).gauge().value())
                  .sum())
          .isEqualTo(1.0);
      assertThat(
              registries.get(electors.indexOf(first)).get("idem.leader.changes").counter().count())
          .isEqualTo(2.0);
    } finally {
      electors.forEach(e -> e.election.close());
    }
    assertThat(electors).allMatch(e -> !e.election.isLeader());
  }

  private void fencedWrite(FencingToken token) throws Exception {
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false);
      try {
        token.check(c);
        try (Statement s = c.createStatement()) {
          s.executeUpdate(
              "UPDATE " + token.schema() + ".fenced SET written_by_epoch = " + token.epoch());
        }
        c.commit();
      } catch (Exception e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(true);
      }
    }
  }

  private static List<Elector> leaders(List<Elector> electors) {
    return electors.stream().filter(e -> e.election.isLeader()).toList();
  }

  static final class Elector implements LeaderListener {
    LeaderElection election;
    volatile long revokedAt;

    @Override
    public void elected(FencingToken token) {}

    @Override
    public void revoked(FencingToken token) {
      revokedAt = System.nanoTime();
    }
  }

  static final class MutableClock extends java.time.Clock {
    private volatile java.time.Instant now;

    MutableClock(java.time.Instant now) {
      this.now = now;
    }

    void set(java.time.Instant instant) {
      now = instant;
    }

    @Override
    public java.time.ZoneId getZone() {
      return java.time.ZoneOffset.UTC;
    }

    @Override
    public java.time.Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public java.time.Instant instant() {
      return now;
    }
  }
}
