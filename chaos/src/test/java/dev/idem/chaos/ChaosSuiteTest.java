package dev.idem.chaos;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bounded chaos runs: three consumer processes under every fault type, once per record, once in
 * batch mode, once with offsets stored in PostgreSQL. A seed from {@code -Didem.chaos.seed} replays
 * a run; otherwise each run draws one and prints it.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class ChaosSuiteTest {
  @Test
  void everyFaultPerRecordLosesDoublesAndReordersNothing() {
    run(options("record").mode(ChaosOptions.Mode.RECORD));
  }

  @Test
  void everyFaultInBatchModeLosesDoublesAndReordersNothing() {
    run(options("batch").mode(ChaosOptions.Mode.BATCH));
  }

  @Test
  void everyFaultWithOffsetsInPostgresqlLosesDoublesAndReordersNothing() {
    run(options("pg-offsets").mode(ChaosOptions.Mode.RECORD).offsetStore("postgresql"));
  }

  private static ChaosOptions.Builder options(String label) {
    // The eight faults, ten seconds apart, set the length of a run (about 90 s); the duration is
    // only the least time events are produced.
    return ChaosOptions.builder(label)
        .duration(Duration.ofSeconds(60))
        .firstFault(Duration.ofSeconds(4))
        .rate(80);
  }

  private static void run(ChaosOptions.Builder builder) {
    ChaosOptions options = builder.build().withSystemProperties();
    ChaosResult result = ChaosRun.run(options, SharedCluster.get());
    ChaosAssertions.assertExactlyOnce(result);
    ChaosAssertions.assertEveryFaultRan(result, options.faults());
  }
}
