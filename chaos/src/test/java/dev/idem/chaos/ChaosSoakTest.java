package dev.idem.chaos;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The long run: every fault type, over and over, for {@code -Didem.chaos.duration} (default 10
 * minutes) at {@code -Didem.chaos.rate} events per second (default 150). Off unless {@code
 * -Didem.soak=true}; {@code -Didem.chaos.seed}, {@code -Didem.chaos.mode}, {@code
 * -Didem.chaos.offset-store} and {@code -Didem.chaos.group-type=share} (share-group consumers)
 * apply too.
 */
@EnabledIfSystemProperty(named = "idem.soak", matches = "true")
class ChaosSoakTest {

  @Test
  void everyFaultOverAndOverLosesDoublesAndReordersNothing() {
    ChaosOptions options =
        ChaosOptions.builder("soak")
            .duration(Duration.ofMinutes(10))
            .rate(150)
            .build()
            .withSystemProperties();
    Duration bound = options.duration().plus(options.drainTimeout()).plusMinutes(10);
    ChaosResult result = assertTimeoutPreemptively(bound, () -> ChaosRun.run(options));
    ChaosAssertions.assertExactlyOnce(result);
    ChaosAssertions.assertEveryFaultRan(result, options.faults());
    ChaosAssertions.assertHungAndSlowHandlersStruck(result, options);
  }
}
