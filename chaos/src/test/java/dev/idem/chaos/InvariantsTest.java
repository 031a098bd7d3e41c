package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The end-of-run checks catch what they are meant to: a ledger written by hand with a lost, a
 * doubled and a reordered event, and dead letters that are missing or stray, gives exactly those
 * counts; the swallowing handler's writes, committed the way pgjdbc commits an aborted transaction,
 * count as lost; hung and slow-failing events count only when dead-lettered for their reason; an
 * event with neither a processed mark nor a dead letter, or with both, is counted; a held advisory
 * lock is seen.
 */
class InvariantsTest {
  private static final String CONSUMER = "checker";
  private static EmbeddedPostgresServer postgres;

  private Workload workload;
  private Invariants invariants;

  @BeforeAll
  static void startDatabase() {
    postgres = EmbeddedPostgresServer.launch();
  }

  @AfterAll
  static void stopDatabase() {
    if (postgres != null) {
      postgres.close();
    }
  }

  @BeforeEach
  void freshLedger() throws SQLException {
    try (Connection c = postgres.dataSource().getConnection();
        Statement s = c.createStatement()) {
      Ledger.reset(c);
      CarelessStatement.prepare(c);
      s.execute("CREATE SCHEMA IF NOT EXISTS idem");
      s.execute(
          "CREATE TABLE IF NOT EXISTS idem.dead_letters (consumer_name text NOT NULL,"
              + " event_id text NOT NULL, has_event_id boolean NOT NULL, reason text NOT NULL,"
              + " exception_class text, PRIMARY KEY (consumer_name, event_id))");
      s.execute("TRUNCATE idem.dead_letters");
      s.execute(
          "CREATE TABLE IF NOT EXISTS idem.processed_events (consumer_name text NOT NULL,"
              + " event_id text NOT NULL, PRIMARY KEY (consumer_name, event_id))");
      s.execute("TRUNCATE idem.processed_events");
    }
    workload = new Workload(ChaosOptions.builder("unit").seed(7).build(), "e", "a", "b").draw(1200);
    invariants = invariants(false);
  }

  /** Invariants over the test's tables, for a consumer group or ({@code share}) a share group. */
  private Invariants invariants(boolean share) {
    return new Invariants(
        postgres.dataSource(),
        "127.0.0.1:1",
        CONSUMER,
        "nobody",
        List.of(new TopicPartition("a", 0)),
        false,
        share);
  }

  @Test
  void everyEventAppliedOnceAndEveryPoisonEventDeadLetteredCountsAsClean() throws SQLException {
    applyAll(workload.events().stream().filter(p -> !p.event().poison()).toList());
    deadLetter(workload.poisonIds());

    Invariants.Effects e = invariants.effects(workload);

    assertThat(e.applied()).isEqualTo(1200 - workload.poisonIds().size());
    assertThat(e.lost()).isZero();
    assertThat(e.doubled()).isZero();
    assertThat(e.reorderedGroups()).isZero();
    assertThat(e.unexpected()).isZero();
    assertThat(e.poisonDeadLettered()).isEqualTo(workload.poisonIds().size());
    assertThat(e.strayDeadLetters()).isZero();
    assertThat(e.untraced()).isZero();
    assertThat(e.markedAndDeadLettered()).isZero();
  }

  @Test
  void hungAndSlowFailingEventsCountOnlyWhenDeadLetteredForTheirReason() throws SQLException {
    Workload share =
        new Workload(ChaosOptions.builder("unit").seed(7).share(true).build(), "e", "a", "b")
            .draw(1200);
    String hung = share.hangIds().iterator().next();
    String slow = share.slowFailIds().iterator().next();
    applyAll(share.events().stream().filter(p -> p.event().healthy()).toList());
    deadLetter(share.poisonIds());
    deadLetter(List.of(hung), Workload.HANDLER_TIMEOUT);
    deadLetter(List.of(slow), Workload.HANDLER_FAILED);

    Invariants.Effects clean = invariants(true).effects(share);
    assertThat(clean.hungDeadLettered()).isEqualTo(1);
    assertThat(clean.hungTimedOut()).isEqualTo(1);
    assertThat(clean.slowFailDeadLettered()).isEqualTo(1);
    assertThat(clean.applied()).isEqualTo(1200 - share.poisonIds().size() - 2);
    assertThat(clean.lost()).isZero();
    assertThat(clean.unexpected()).isZero();
    assertThat(clean.strayDeadLetters()).isZero();
    assertThat(clean.untraced()).isZero();

    // Reasons swapped: a hung event given up as a handler failure, a slow one as a hang.
    undeadLetter(List.of(hung, slow));
    deadLetter(List.of(hung), Workload.HANDLER_FAILED);
    deadLetter(List.of(slow), Workload.HANDLER_TIMEOUT);
    Invariants.Effects swapped = invariants(true).effects(share);
    assertThat(swapped.hungDeadLettered()).isZero();
    assertThat(swapped.slowFailDeadLettered()).isZero();
    assertThat(swapped.samples()).anyMatch(line -> line.contains(hung) && line.contains("failed"));

    // A hung event's last delivery may time out waiting for the lock its earlier delivery's hung
    // attempt holds: handler-failed for that lock wait, and for nothing else.
    undeadLetter(List.of(hung));
    deadLetter(List.of(hung), Workload.HANDLER_FAILED, Workload.LOCK_WAIT_FAILURE);
    assertThat(invariants(true).effects(share).hungDeadLettered()).isEqualTo(1);
    assertThat(invariants(true).effects(share).hungTimedOut()).isZero();

    // The hung attempt's row committed: applied although it must be dead-lettered.
    write(List.of(entry(share.events().stream().filter(p -> p.event().hang()).findFirst().get())));
    assertThat(invariants(true).effects(share).unexpected()).isEqualTo(1);
  }

  @Test
  void anEventWithNeitherAMarkNorADeadLetterOrWithBothIsCounted() throws SQLException {
    List<Workload.Planned> healthy =
        workload.events().stream().filter(p -> p.event().healthy()).toList();
    Workload.Planned archived = healthy.get(10);
    Workload.Planned both = healthy.get(20);
    write(healthy.stream().map(InvariantsTest::entry).toList());
    mark(healthy.stream().filter(p -> p != archived).map(p -> p.event().id()).toList());
    deadLetter(workload.poisonIds());
    Workload.Planned poison =
        workload.events().stream().filter(p -> p.event().poison()).findFirst().orElseThrow();
    // A dead letter for an applied event, and a mark for a dead-lettered one.
    deadLetter(List.of(both.event().id()));
    mark(List.of(poison.event().id()));

    Invariants.Effects e = invariants.effects(workload);

    assertThat(e.untraced()).isEqualTo(1);
    assertThat(e.markedAndDeadLettered()).isEqualTo(2);
    assertThat(e.lost()).as("its effects are in the ledger").isZero();
    assertThat(e.samples()).anyMatch(line -> line.contains(archived.event().id()));
  }

  @Test
  void theOutboxChecksPassACleanTopicAndCountEachDefectOfABrokenOne() throws SQLException {
    // Four events of key A and two of key B applied and counted in their keys' commit order.
    try (Connection c = postgres.dataSource().getConnection();
        Statement s = c.createStatement()) {
      for (String id : List.of("a1", "a2", "a3", "a4", "b1", "b2")) {
        s.execute(
            "INSERT INTO "
                + Ledger.TABLE
                + " (event_id, ordering_key, seq, topic, kafka_partition, kafka_offset, consumer)"
                + " VALUES ('"
                + id
                + "', 'k', 1, 'a', 0, 0, 'c')");
      }
      s.execute("INSERT INTO " + Ledger.KEY_ORDER + " VALUES ('A', 4), ('B', 2)");
    }
    List<Invariants.Published> clean =
        List.of(
            published("a1", "A", 1),
            published("a2", "A", 2),
            published("a2", "A", 2), // sent again after a failover
            published("a3", "A", 3),
            published("a4", "A", 4),
            published("b1", "B", 1),
            published("b2", "B", 2));
    Invariants.OutboxEffects ok = invariants.outboxEffects(clean, 0);
    assertThat(ok.violations()).isEmpty();
    assertThat(ok.events()).isEqualTo(6);
    assertThat(ok.repeats()).isEqualTo(1);

    List<Invariants.Published> broken =
        List.of(
            published("a1", "A", 1),
            published("a3", "A", 3), // ahead of a2: out of commit order
            published("a2", "A", 2),
            published("x9", "A", 4), // a rolled-back attempt's publish: no ledger row, a4's place
            published("a4", "A", 4),
            published("b1", "B", 1), // b2 never published
            published("b1", "B", 2)); // a repeat that is not the same publish
    Invariants.OutboxEffects bad = invariants.outboxEffects(broken, 3);
    assertThat(bad.lost()).as("applied, never published").isEqualTo(1);
    assertThat(bad.unknown()).as("published without a ledger row").isEqualTo(1);
    assertThat(bad.reorderedKeys()).as("keys out of order").isEqualTo(1);
    // A's place 4 taken twice, b1 published with two contents, B's place 2 never published.
    assertThat(bad.gaps()).as("places missing or taken twice").isEqualTo(3);
    assertThat(bad.unsent()).isEqualTo(3);
    assertThat(bad.violations()).hasSize(5);
  }

  private static Invariants.Published published(String source, String key, int place) {
    return new Invariants.Published(
        "checker/" + source + "/applied", source + "|" + key + "|" + place);
  }

  @Test
  void lostDoubledReorderedAndMisplacedEffectsAreEachCounted() throws SQLException {
    List<Workload.Planned> healthy =
        workload.events().stream().filter(p -> !p.event().poison()).toList();
    Workload.Planned lost = healthy.get(10);
    Workload.Planned doubled = healthy.get(20);
    Workload.Planned poison =
        workload.events().stream().filter(p -> p.event().poison()).findFirst().orElseThrow();
    // Two events of one key in one partition, applied in the wrong order.
    Workload.Planned first = healthy.get(30);
    Workload.Planned second =
        healthy.stream()
            .filter(p -> p.event().key().equals(first.event().key()))
            .filter(p -> p.event().seq() > first.event().seq())
            .findFirst()
            .orElseThrow();

    List<Ledger.Entry> rows = new ArrayList<>();
    for (Workload.Planned p : workload.events()) {
      if (p == lost || p == second || (p.event().poison() && p != poison)) {
        continue;
      }
      if (p == first) {
        rows.add(entry(second));
      }
      rows.add(entry(p));
      if (p == doubled) {
        // The second application comes from a copy in another topic: a double, not a reorder.
        rows.add(new Ledger.Entry(p.event(), "b", 5, 0, "c2.1"));
      }
    }
    write(rows);
    mark(rows.stream().map(r -> r.event().id()).distinct().toList());
    deadLetter(List.of(healthy.get(40).event().id()));

    Invariants.Effects e = invariants.effects(workload);

    assertThat(e.lost()).isEqualTo(1);
    assertThat(e.doubled()).isEqualTo(1);
    assertThat(e.reorderedGroups()).isEqualTo(1);
    assertThat(e.unexpected()).isEqualTo(1);
    assertThat(e.poisonDeadLettered()).isZero();
    assertThat(e.strayDeadLetters()).isEqualTo(1);
    assertThat(e.samples()).anyMatch(line -> line.contains(lost.event().id()));

    // A share group promises no order: the same ledger has no reordering to count there, and
    // loses and doubles the same events.
    Invariants.Effects share = invariants(true).effects(workload);
    assertThat(share.reorderedGroups()).isZero();
    assertThat(share.lost()).isEqualTo(1);
    assertThat(share.doubled()).isEqualTo(1);
    assertThat(share.strayDeadLetters()).isEqualTo(1);
  }

  @Test
  void swallowedSqlErrorsCommittedAsIfNothingHappenedShowAsLostEvents() throws SQLException {
    Workload swallowing =
        new Workload(ChaosOptions.builder("unit").seed(7).swallowRate(0.05).build(), "e", "a", "b")
            .draw(1200);
    List<Workload.Planned> swallow =
        swallowing.events().stream().filter(p -> p.event().swallow()).toList();
    applyAll(
        swallowing.events().stream()
            .filter(p -> !p.event().poison() && !p.event().swallow())
            .toList());
    deadLetter(swallowing.poisonIds());
    // The trait's handler on a framework without the transaction-state check: the normal write,
    // the caught error, then commit(), which returns although the server rolled back.
    try (Connection c = postgres.dataSource().getConnection()) {
      c.setAutoCommit(false);
      for (Workload.Planned p : swallow) {
        Ledger.write(c, List.of(entry(p)));
        assertThat(CarelessStatement.runAndSwallow(c)).isEqualTo("23505");
        c.commit();
      }
    }

    Invariants.Effects e = invariants.effects(swallowing);

    assertThat(swallow).isNotEmpty();
    assertThat(e.lost()).isEqualTo(swallow.size());
    assertThat(e.doubled()).isZero();
    assertThat(e.strayDeadLetters()).isZero();
    assertThat(e.samples()).anyMatch(line -> line.contains(swallow.get(0).event().id()));
  }

  @Test
  void aHeldAdvisoryLockIsSeen() throws SQLException {
    try (Connection holder = postgres.dataSource().getConnection();
        Statement s = holder.createStatement()) {
      s.execute("SELECT pg_advisory_lock(42)");
      assertThat(invariants.advisoryLocks()).isEqualTo(1);
      s.execute("SELECT pg_advisory_unlock(42)");
    }
    assertThat(invariants.advisoryLocks()).isZero();
  }

  /** Writes the events' ledger rows and processed marks, as their transactions would. */
  private static void applyAll(List<Workload.Planned> events) throws SQLException {
    write(events.stream().map(InvariantsTest::entry).toList());
    mark(events.stream().map(p -> p.event().id()).toList());
  }

  private static void mark(List<String> ids) throws SQLException {
    try (Connection c = postgres.dataSource().getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "INSERT INTO idem.processed_events (consumer_name, event_id) VALUES (?, ?)")) {
      for (String id : ids) {
        ps.setString(1, CONSUMER);
        ps.setString(2, id);
        ps.executeUpdate();
      }
    }
  }

  private static Ledger.Entry entry(Workload.Planned p) {
    Workload.Target original = p.targets().get(0);
    return new Ledger.Entry(p.event(), original.topic(), original.partition(), 0, "c1.1");
  }

  private static void write(List<Ledger.Entry> entries) throws SQLException {
    try (Connection c = postgres.dataSource().getConnection()) {
      Ledger.write(c, entries);
    }
  }

  private static void deadLetter(Iterable<String> ids) throws SQLException {
    deadLetter(ids, Workload.HANDLER_FAILED);
  }

  private static void deadLetter(Iterable<String> ids, String reason) throws SQLException {
    deadLetter(ids, reason, "java.lang.IllegalStateException");
  }

  private static void deadLetter(Iterable<String> ids, String reason, String exceptionClass)
      throws SQLException {
    try (Connection c = postgres.dataSource().getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "INSERT INTO idem.dead_letters"
                    + " (consumer_name, event_id, has_event_id, reason, exception_class)"
                    + " VALUES (?, ?, true, ?, ?)")) {
      for (String id : ids) {
        ps.setString(1, CONSUMER);
        ps.setString(2, id);
        ps.setString(3, reason);
        ps.setString(4, exceptionClass);
        ps.executeUpdate();
      }
    }
  }

  private static void undeadLetter(List<String> ids) throws SQLException {
    try (Connection c = postgres.dataSource().getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "DELETE FROM idem.dead_letters WHERE consumer_name = ? AND event_id = ?")) {
      for (String id : ids) {
        ps.setString(1, CONSUMER);
        ps.setString(2, id);
        ps.executeUpdate();
      }
    }
  }
}
