package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class SmokeScratchTest {
  @Test
  void smoke() {
    ChaosOptions o =
        ChaosOptions.builder("smoke")
            .duration(Duration.ofSeconds(30))
            .rate(80)
            .faults(Fault.HALT_AFTER_COMMIT, Fault.SCALE_IN_OUT, Fault.HALT_AFTER_COMMIT)
            .build()
            .withSystemProperties();
    ChaosResult r = ChaosRun.run(o);
    assertThat(r.violations()).isEmpty();
  }
}
