package dev.idem.chaos;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The figures of a finished chaos run and the invariants it was checked against. {@link
 * #violations()} is empty when every invariant held.
 *
 * @param label the scenario
 * @param seed the seed that replays the run
 * @param mode record, batch or grouped
 * @param offsetStore where offsets were stored ({@code share-group} for a share group, which keeps
 *     none)
 * @param shareRenewals share groups: whether the group renewed the locks of records in work
 * @param events unique events produced
 * @param records records produced (events plus copies)
 * @param duplicates extra copies produced
 * @param poison poison events produced
 * @param swallowEvents events produced whose handler swallows an SQL error on its first attempt
 * @param hungEvents events produced whose handler hangs on every delivery (share groups)
 * @param slowFailEvents events produced whose handler sleeps past the lock and fails on every
 *     delivery (share groups)
 * @param faults the faults injected, in order, by label
 * @param kills consumers killed with SIGKILL
 * @param halts consumers halted between a database commit and the offset commit
 * @param gracefulStops consumers stopped gracefully (rolling restarts and scale-ins)
 * @param restarts consumer processes started again after a kill, halt or stop
 * @param rebalances partition assignments the consumers received
 * @param terminatedSessions database sessions ended by {@code pg_terminate_backend}
 * @param ambiguousCommits COMMITs whose reply the proxy dropped
 * @param unexpectedExits consumers that stopped without being asked to
 * @param effects what the ledger and the dead letters say
 * @param advisoryLocks advisory locks held after every consumer stopped
 * @param consumerSessions database sessions of consumers still open after they stopped
 * @param partitions partitions consumed (both topics)
 * @param partitionsNotAtEnd partitions whose committed position was not their end, with figures
 * @param processed records whose handler ran and committed (consumers' counters)
 * @param skipped records skipped as duplicates (consumers' counters)
 * @param retries attempts repeated after a failure (consumers' counters)
 * @param swallowed handler attempts that swallowed an SQL error (consumers' counters; a killed
 *     consumer's last fraction of a second is missing)
 * @param abandoned runs the watchdog gave up: their transaction outlived lock-timeout +
 *     handler-timeout + 1 s (consumers' counters, as {@code swallowed})
 * @param seconds how long the run took, from the first record produced to the last check
 * @param relayHalts outbox runs: processes halted between their relay's Kafka commit and its mark
 * @param outbox outbox runs: what the published topic says; null when the scenario was off
 */
public record ChaosResult(
    String label,
    long seed,
    String mode,
    String offsetStore,
    boolean shareRenewals,
    int events,
    int records,
    int duplicates,
    int poison,
    int swallowEvents,
    int hungEvents,
    int slowFailEvents,
    List<String> faults,
    int kills,
    int halts,
    int gracefulStops,
    int restarts,
    long rebalances,
    long terminatedSessions,
    long ambiguousCommits,
    List<String> unexpectedExits,
    Invariants.Effects effects,
    int advisoryLocks,
    int consumerSessions,
    int partitions,
    List<String> partitionsNotAtEnd,
    long processed,
    long skipped,
    long retries,
    long swallowed,
    long abandoned,
    double seconds,
    int relayHalts,
    Invariants.OutboxEffects outbox) {

  public ChaosResult {
    faults = List.copyOf(faults);
    unexpectedExits = List.copyOf(unexpectedExits);
    partitionsNotAtEnd = List.copyOf(partitionsNotAtEnd);
  }

  /** Healthy events without a ledger row. */
  public int lost() {
    return effects.lost();
  }

  /** Events with more than one ledger row. */
  public int doubled() {
    return effects.doubled();
  }

  /** (topic-partition, key) groups whose sequence numbers did not strictly increase. */
  public int reordered() {
    return effects.reorderedGroups();
  }

  /** Dead-letter rows of this run's consumer. */
  public int deadLettered() {
    return effects.deadLettered();
  }

  /** How often {@code fault} was injected. */
  public long count(Fault fault) {
    return faults.stream().filter(f -> f.equals(fault.label())).count();
  }

  /** Every broken invariant, in words; empty when the run kept them all. */
  public List<String> violations() {
    List<String> v = new ArrayList<>();
    if (lost() > 0) {
      v.add(lost() + " events lost");
    }
    if (doubled() > 0) {
      v.add(doubled() + " events applied more than once");
    }
    if (reordered() > 0) {
      v.add(reordered() + " (topic-partition, key) groups applied out of order");
    }
    if (effects.unexpected() > 0) {
      v.add(
          effects.unexpected() + " ledger entries of poison, hung, slow-failing or unknown events");
    }
    if (effects.poisonDeadLettered() != poison) {
      v.add(effects.poisonDeadLettered() + " of " + poison + " poison events dead-lettered");
    }
    if (effects.hungDeadLettered() != hungEvents) {
      v.add(
          effects.hungDeadLettered()
              + " of "
              + hungEvents
              + " hung events dead-lettered as handler-timeout or for a lock wait behind their"
              + " hung attempt");
    }
    if (effects.slowFailDeadLettered() != slowFailEvents) {
      v.add(
          effects.slowFailDeadLettered()
              + " of "
              + slowFailEvents
              + " slow-failing events dead-lettered as handler-failed");
    }
    if (effects.untraced() > 0) {
      v.add(effects.untraced() + " events with neither a processed mark nor a dead letter");
    }
    if (effects.markedAndDeadLettered() > 0) {
      v.add(effects.markedAndDeadLettered() + " events with a processed mark and a dead letter");
    }
    if (effects.strayDeadLetters() > 0) {
      v.add(effects.strayDeadLetters() + " dead letters of healthy events");
    }
    if (advisoryLocks > 0) {
      v.add(advisoryLocks + " advisory locks held after shutdown");
    }
    if (consumerSessions > 0) {
      v.add(consumerSessions + " consumer sessions open after shutdown");
    }
    if (!partitionsNotAtEnd.isEmpty()) {
      v.add("committed position not at the end: " + partitionsNotAtEnd);
    }
    if (!unexpectedExits.isEmpty()) {
      v.add("consumers stopped on their own: " + unexpectedExits);
    }
    if (outbox != null) {
      v.addAll(outbox.violations());
    }
    return v;
  }

  /** The one-line summary of figures. */
  public String summaryLine() {
    return String.format(
        Locale.ROOT,
        "CHAOS label=%s seed=%d mode=%s offsets=%s%s events=%d records=%d duplicates=%d poison=%d"
            + " swallow-events=%d%s faults=%d kills=%d halts=%d restarts=%d rebalances=%d"
            + " terminated-sessions=%d ambiguous-commits=%d retries=%d swallowed=%d%s lost=%d"
            + " doubled=%d reordered=%d untraced=%d dead-lettered=%d locks-after=%d"
            + " committed-at-end=%d/%d duration=%.0fs%s%s",
        label,
        seed,
        mode,
        offsetStore,
        offsetStore.equals("share-group") ? (shareRenewals ? " renewals=on" : " renewals=off") : "",
        events,
        records,
        duplicates,
        poison,
        swallowEvents,
        hungEvents + slowFailEvents == 0
            ? ""
            : String.format(
                Locale.ROOT,
                " hung=%d (handler-timeout %d) slow-failing=%d",
                hungEvents,
                effects.hungTimedOut(),
                slowFailEvents),
        faults.size(),
        kills,
        halts,
        restarts,
        rebalances,
        terminatedSessions,
        ambiguousCommits,
        retries,
        swallowed,
        hungEvents + slowFailEvents == 0
            ? ""
            : String.format(Locale.ROOT, " abandoned=%d", abandoned),
        lost(),
        doubled(),
        reordered(),
        effects.untraced(),
        deadLettered(),
        advisoryLocks,
        partitions - partitionsNotAtEnd.size(),
        partitions,
        seconds,
        outbox == null
            ? ""
            : String.format(
                Locale.ROOT,
                " outbox-records=%d outbox-events=%d outbox-repeats=%d relay-halts=%d"
                    + " outbox-lost=%d outbox-unknown=%d outbox-gaps=%d outbox-reordered=%d",
                outbox.records(),
                outbox.events(),
                outbox.repeats(),
                relayHalts,
                outbox.lost(),
                outbox.unknown(),
                outbox.gaps(),
                outbox.reorderedKeys()),
        violations().isEmpty() ? "" : " VIOLATED");
  }

  /** A row of the scenario table in {@code docs/reliability.md}. */
  public String markdownRow() {
    return String.format(
        Locale.ROOT,
        "| %s | %d | %s / %s | %d | %d | %s | %d / %d | %d / %d / %d | %d | %.0f s |",
        label,
        seed,
        mode,
        offsetStore,
        events,
        records,
        String.join(", ", faults),
        swallowEvents,
        swallowed,
        lost(),
        doubled(),
        reordered(),
        deadLettered(),
        seconds);
  }
}
