package dev.idem.chaos;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bounded chaos runs: three consumer processes under every fault type, once per record, once in
 * batch mode, once with offsets stored in PostgreSQL. A seed from {@code -Didem.chaos.seed} replays
 * a run; otherwise each run draws one and prints it.
 */
class ChaosSuiteTest {
  private static ChaosCluster cluster;

  @BeforeAll
  static void startCluster() {
    cluster = ChaosCluster.start();
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void everyFaultPerRecordLosesDoublesAndReordersNothing() {
    ChaosResult result = ChaosRun.run(options("record", ChaosOptions.Mode.RECORD), cluster);
    ChaosAssertions.assertExactlyOnce(result);
    ChaosAssertions.assertEveryFaultRan(result, cluster);
  }

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void everyFaultInBatchModeLosesDoublesAndReordersNothing() {
    ChaosResult result = ChaosRun.run(options("batch", ChaosOptions.Mode.BATCH), cluster);
    ChaosAssertions.assertExactlyOnce(result);
    ChaosAssertions.assertEveryFaultRan(result, cluster);
  }

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void everyFaultWithOffsetsInPostgresqlLosesDoublesAndReordersNothing() {
    assumeTrue(
        ChaosRun.offsetStoreSupported(),
        "consumer-framework has no consumer.offset-store setting yet; this run needs it");
    ChaosResult result =
        ChaosRun.run(
            options("pg-offsets", ChaosOptions.Mode.RECORD).toBuilder()
                .offsetStore("postgresql")
                .build(),
            cluster);
    ChaosAssertions.assertExactlyOnce(result);
    ChaosAssertions.assertEveryFaultRan(result, cluster);
  }

  private static ChaosOptions options(String label, ChaosOptions.Mode mode) {
    return ChaosOptions.builder(label)
        .mode(mode)
        .duration(Duration.ofSeconds(80))
        .rate(80)
        .build()
        .withSystemProperties();
  }
}
