package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;

/** The invariants every chaos run must keep, asserted one by one so a failure names its figure. */
final class ChaosAssertions {
  private ChaosAssertions() {}

  /**
   * Zero lost, zero doubled, zero reordered; every poison and slow-failing event dead-lettered once
   * as {@code handler-failed}, every hung one once as {@code handler-timeout} or, when an earlier
   * delivery's hung attempt still held the event's lock, as {@code handler-failed} for that lock
   * wait (see {@link Workload#isExpectedDeadLetter}); none of them applied, and nothing else
   * dead-lettered; every event traced by a processed mark or a dead letter, never both; no advisory
   * lock or consumer session left; every partition committed to its end (in a share group: nothing
   * left to deliver).
   */
  static void assertExactlyOnce(ChaosResult r) {
    String seed = "seed " + r.seed() + ": " + r.effects().samples();
    assertThat(r.lost()).as("lost events, " + seed).isZero();
    assertThat(r.doubled()).as("doubled events, " + seed).isZero();
    assertThat(r.reordered()).as("reordered groups, " + seed).isZero();
    assertThat(r.effects().unexpected())
        .as("ledger rows of poison, hung or slow-failing events, " + seed)
        .isZero();
    assertThat(r.effects().poisonDeadLettered())
        .as("poison events dead-lettered as handler-failed, " + seed)
        .isEqualTo(r.poison());
    assertThat(r.effects().hungDeadLettered())
        .as("hung events dead-lettered as handler-timeout or for a lock wait, " + seed)
        .isEqualTo(r.hungEvents());
    assertThat(r.effects().slowFailDeadLettered())
        .as("slow-failing events dead-lettered as handler-failed, " + seed)
        .isEqualTo(r.slowFailEvents());
    assertThat(r.effects().strayDeadLetters())
        .as("dead letters of healthy events, " + seed)
        .isZero();
    assertThat(r.effects().untraced())
        .as("events with neither a processed mark nor a dead letter, " + seed)
        .isZero();
    assertThat(r.effects().markedAndDeadLettered())
        .as("events with a processed mark and a dead letter, " + seed)
        .isZero();
    int deadLettered = r.poison() + r.hungEvents() + r.slowFailEvents();
    assertThat(r.deadLettered()).as("dead letters").isEqualTo(deadLettered);
    assertThat(r.effects().applied()).isEqualTo(r.events() - deadLettered);
    assertThat(r.advisoryLocks()).as("advisory locks after shutdown").isZero();
    assertThat(r.consumerSessions()).as("consumer sessions after shutdown").isZero();
    assertThat(r.partitionsNotAtEnd()).as("partitions not committed to their end").isEmpty();
    assertThat(r.unexpectedExits()).as("consumers that stopped on their own").isEmpty();
    if (r.outbox() != null) {
      Invariants.OutboxEffects o = r.outbox();
      String samples = "seed " + r.seed() + ": " + o.samples();
      assertThat(o.events())
          .as("events published through the outbox")
          .isEqualTo(r.events() - deadLettered);
      assertThat(o.lost()).as("applied events never published, " + samples).isZero();
      assertThat(o.unknown()).as("published events without a ledger row, " + samples).isZero();
      assertThat(o.gaps())
          .as("places in a key's commit order missing or doubled, " + samples)
          .isZero();
      assertThat(o.reorderedKeys()).as("keys published out of commit order, " + samples).isZero();
      assertThat(o.unsent()).as("outbox rows not marked sent").isZero();
    }
    assertThat(r.violations()).isEmpty();
  }

  /**
   * When the workload had events whose handler swallows an SQL error, the consumers saw such
   * attempts: the trait struck, and the exactly-once figures cover it.
   */
  static void assertSwallowedErrorsStruck(ChaosResult r) {
    if (r.swallowEvents() > 0) {
      assertThat(r.swallowed()).as("handler attempts that swallowed an SQL error").isPositive();
    }
  }

  /**
   * When {@code options} asked for hung and slow-failing events, the workload had them, and the
   * watchdog gave up at least one run per hung event (its dead letter's reason says the last one).
   */
  static void assertHungAndSlowHandlersStruck(ChaosResult r, ChaosOptions options) {
    if (options.hangRate() > 0) {
      assertThat(r.hungEvents()).as("hung events").isPositive();
      assertThat(r.abandoned())
          .as("runs the watchdog gave up")
          .isGreaterThanOrEqualTo(r.hungEvents());
    }
    if (options.slowFailRate() > 0) {
      assertThat(r.slowFailEvents()).as("slow-failing events").isPositive();
    }
  }

  /** Each of {@code faults} ran at least once, and did what it is meant to. */
  static void assertEveryFaultRan(ChaosResult r, java.util.List<Fault> faults) {
    for (Fault f : faults) {
      assertThat(r.count(f)).as("%s injected", f.label()).isPositive();
    }
    if (faults.contains(Fault.KILL)) {
      assertThat(r.kills()).as("kills").isPositive();
    }
    if (faults.contains(Fault.HALT_AFTER_COMMIT)) {
      assertThat(r.halts()).as("halts after a database commit").isPositive();
      // An armed consumer that commits nothing within the halt timeout is killed instead: that
      // would be a kill, not the halt between the database commit and the offset commit.
      assertThat(r.halts())
          .as("consumers halted right after a database commit, one per halt fault")
          .isEqualTo(r.count(Fault.HALT_AFTER_COMMIT));
    }
    // In a share group a failed attempt is retried locally only while its acquisition lock lasts,
    // and by the broker's redelivery after that (not counted as a retry), so there the two
    // figures do not line up either.
    boolean share = r.offsetStore().equals("share-group");
    if (faults.contains(Fault.POSTGRES_RESTART) && r.mode().equals("record") && !share) {
      // Per record, every attempt that swallowed an SQL error is retried too; count only the
      // retries beyond them. Terminated sessions and dropped COMMIT replies in the same run add to
      // this figure. (In batch and grouped mode a swallowed error also fails the rest of its
      // transaction, whose records are then tried afresh, so swallowed attempts outnumber retries.)
      assertThat(r.retries() - r.swallowed())
          .as("transactions broken by the faults and retried")
          .isPositive();
    }
    if (faults.contains(Fault.RELAY_HALT)) {
      assertThat(r.relayHalts())
          .as("relays halted between their Kafka commit and their mark, one per relay-halt fault")
          .isEqualTo(r.count(Fault.RELAY_HALT));
      // The halted round was never marked: the next leader sent it again.
      assertThat(r.outbox().repeats()).as("records the relays sent again").isPositive();
    }
    if (faults.contains(Fault.TERMINATE_SESSIONS)) {
      assertThat(r.terminatedSessions()).as("terminated sessions").isPositive();
    }
    if (faults.contains(Fault.AMBIGUOUS_COMMIT)) {
      assertThat(r.ambiguousCommits()).as("dropped COMMIT replies").isPositive();
    }
  }
}
