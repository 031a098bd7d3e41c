package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * One fault alone per run, each the regression test of a dangerous moment: three consumer processes
 * under load, the fault in the middle, zero lost and zero doubled at the end. Each test also
 * asserts that its fault really struck.
 *
 * <p>The default build runs only the rebalance in the middle of slow batches, which no other run
 * has. The per-record runs of a halt, a PostgreSQL restart, a dropped COMMIT reply and a broker
 * restart need {@code -Didem.soak=true}: {@link ChaosSuiteTest}'s per-record run injects each of
 * these faults under load in every default build, with the same exactly-once checks and the same
 * checks that the fault struck ({@link ChaosAssertions#assertEveryFaultRan}). Alone, a fault is
 * easier to replay and to read in the logs when that run fails.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class SingleFaultTest {
  @Test
  @EnabledIfSystemProperty(named = "idem.soak", matches = "true")
  void haltingBetweenTheDatabaseCommitAndTheOffsetCommitLosesAndDoublesNothing() {
    ChaosResult r = run(options("halt", Fault.HALT_AFTER_COMMIT));
    assertThat(r.halts()).as("consumers halted right after a database commit").isEqualTo(1);
    ChaosAssertions.assertExactlyOnce(r);
  }

  @Test
  void aRebalanceInTheMiddleOfBatchesLosesAndDoublesNothing() {
    // Slow batches (a quarter second each) are in flight on every consumer all the time, so the
    // scale-in and the scale-out revoke partitions whose batches are running. No swallowed SQL
    // errors here: each makes its whole group fall back to one record at a time, and with the
    // quarter second in every batch of one that backlog drains in tens of seconds instead of
    // three (measured on one seed). ChaosSuiteTest's batch run has the trait.
    ChaosResult r =
        run(
            options("mid-batch", Fault.SCALE_IN_OUT)
                .mode(ChaosOptions.Mode.BATCH)
                .batchDelay(Duration.ofMillis(250))
                .swallowRate(0)
                .build());
    // Faults now follow each other as soon as the fleet is whole again, so a run may scale in
    // and out more than once: each scale-out starts two consumers again.
    assertThat(r.count(Fault.SCALE_IN_OUT)).as("scale-in-out faults").isPositive();
    assertThat(r.restarts())
        .as("consumers started again by the scale-outs")
        .isEqualTo(2 * r.count(Fault.SCALE_IN_OUT));
    assertThat(r.rebalances()).as("assignments beyond the first three").isGreaterThan(3);
    ChaosAssertions.assertExactlyOnce(r);
  }

  @Test
  @EnabledIfSystemProperty(named = "idem.soak", matches = "true")
  void aPostgresqlRestartWhileCommitsAreInFlightLosesAndDoublesNothing() {
    ChaosResult r = run(options("pg-restart", Fault.POSTGRES_RESTART).rate(150).build());
    // Every attempt that swallowed an SQL error is retried too; count only the retries beyond them.
    assertThat(r.retries() - r.swallowed())
        .as("transactions broken by the restart and retried")
        .isPositive();
    ChaosAssertions.assertExactlyOnce(r);
  }

  @Test
  @EnabledIfSystemProperty(named = "idem.soak", matches = "true")
  void aDroppedCommitReplyLosesAndDoublesNothing() {
    ChaosResult r = run(options("dropped-commit-reply", Fault.AMBIGUOUS_COMMIT));
    assertThat(r.ambiguousCommits()).as("COMMITs that succeeded unseen").isPositive();
    ChaosAssertions.assertExactlyOnce(r);
  }

  @Test
  @EnabledIfSystemProperty(named = "idem.soak", matches = "true")
  void aBrokerRestartLosesAndDoublesNothing() {
    ChaosResult r = run(options("broker-restart", Fault.BROKER_RESTART));
    assertThat(r.count(Fault.BROKER_RESTART)).isEqualTo(1);
    ChaosAssertions.assertExactlyOnce(r);
  }

  private static ChaosOptions.Builder options(String label, Fault fault) {
    return ChaosOptions.builder(label)
        .faults(fault)
        .duration(Duration.ofSeconds(10))
        .firstFault(Duration.ofSeconds(3))
        .rate(100);
  }

  private static ChaosResult run(ChaosOptions.Builder options) {
    return run(options.build());
  }

  private static ChaosResult run(ChaosOptions options) {
    return ChaosRun.run(options.withSystemProperties(), SharedCluster.get());
  }
}
