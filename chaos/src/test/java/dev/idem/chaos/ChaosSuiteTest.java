package dev.idem.chaos;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bounded chaos runs: three consumer processes under every fault type per record, and under the
 * faults that hit a mode's own paths in batch mode with offsets stored in PostgreSQL and in grouped
 * mode (kills and halts mid-transaction, a rebalance storm, a PostgreSQL restart, dropped COMMIT
 * replies; every fault in every mode is a soak run away, see docs/reliability.md). Keeping the
 * default build under its time budget is the reason for the subsets, and for running batch mode and
 * offsets in PostgreSQL together: the batch path with database offsets exercises both the batch
 * transaction and the stored positions that kills and rebalances resume from. In every run a share
 * of the handlers swallow an SQL error on their first attempt ({@link
 * ChaosOptions#DEFAULT_SWALLOW_RATE}). A fourth run puts three share-group consumers on two
 * single-partition topics under the faults that hit a share group's own moments, with one hung
 * handler (it blocks, ignoring interrupts, past the watchdog's limit on every delivery) and one
 * slow-failing handler (it sleeps past the record lock, then throws, on every delivery) among its
 * first events: both must end dead-lettered once, the hung one as {@code handler-timeout} (or for a
 * lock wait behind its own hung earlier delivery), the slow one as {@code handler-failed}, never
 * applied, and no event may be left with neither a processed mark nor a dead letter. The seed draws
 * whether that group renews record locks ({@code -Didem.chaos.share-renewals} sets it). A seed from
 * {@code -Didem.chaos.seed} replays a run; otherwise each run draws one and prints it. The
 * per-record run carries the outbox scenario ({@link ChaosOptions#outbox()}): the published topic
 * must hold every applied event once after deduplication, in commit order per key.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class ChaosSuiteTest {
  @Test
  void everyFaultPerRecordLosesDoublesAndReordersNothingAndTheOutboxPublishesEachEventOnce() {
    // The outbox scenario rides on this run: each handler also publishes through the outbox, and
    // the relays (one leads) go through every fault, the relay-halt between the Kafka commit and
    // the mark among them.
    run(options("record").mode(ChaosOptions.Mode.RECORD).outbox(true));
  }

  @Test
  void batchModeWithOffsetsInPostgresqlUnderFaultsLosesDoublesAndReordersNothing() {
    run(
        options("batch-pg-offsets")
            .mode(ChaosOptions.Mode.BATCH)
            .offsetStore("postgresql")
            .faults(MODE_FAULTS));
  }

  @Test
  void groupedTransactionsUnderFaultsLoseDoubleAndReorderNothing() {
    run(options("grouped").mode(ChaosOptions.Mode.GROUPED).faults(MODE_FAULTS));
  }

  @Test
  void aShareGroupUnderFaultsLosesAndDoublesNothing() {
    // Three share consumers on two single-partition topics: more consumers than partitions,
    // which only a share group can use. The faults are those with a share group's own moment: a
    // killed or halted consumer's acquired records come back after the acquisition lock (three
    // seconds here), a PostgreSQL restart closes the gate that stops acquiring, and a dropped
    // COMMIT reply leaves a record committed but not acknowledged. There is no order to check.
    // The hung and slow-failing handlers come with a share group by default (ChaosOptions): their
    // records go through all five deliveries, which sets the run's length.
    run(
        options("share")
            .share(true)
            .partitions(1)
            .faults(
                Fault.KILL,
                Fault.HALT_AFTER_COMMIT,
                Fault.POSTGRES_RESTART,
                Fault.AMBIGUOUS_COMMIT));
  }

  private static final Fault[] MODE_FAULTS = {
    Fault.KILL,
    Fault.HALT_AFTER_COMMIT,
    Fault.SCALE_IN_OUT,
    Fault.POSTGRES_RESTART,
    Fault.AMBIGUOUS_COMMIT
  };

  private static ChaosOptions.Builder options(String label) {
    // The faults set the length of a run: each waits until the system is whole again after the
    // previous one, and at least five seconds (about a minute for all eight); the duration is
    // only the least time events are produced.
    return ChaosOptions.builder(label)
        .duration(Duration.ofSeconds(20))
        .firstFault(Duration.ofSeconds(4))
        .rate(80);
  }

  private static void run(ChaosOptions.Builder builder) {
    ChaosOptions options = builder.build().withSystemProperties();
    ChaosResult result = ChaosRun.run(options, SharedCluster.get());
    ChaosAssertions.assertExactlyOnce(result);
    ChaosAssertions.assertEveryFaultRan(result, options.faults());
    ChaosAssertions.assertSwallowedErrorsStruck(result);
    ChaosAssertions.assertHungAndSlowHandlersStruck(result, options);
  }
}
