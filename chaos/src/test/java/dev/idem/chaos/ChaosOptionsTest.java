package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The outbox scenario's options: its fault only with it, and the default faults follow it. */
class ChaosOptionsTest {
  @Test
  void theRelayHaltIsADefaultFaultOnlyOfOutboxRuns() {
    assertThat(ChaosOptions.builder("plain").build().faults()).doesNotContain(Fault.RELAY_HALT);
    assertThat(ChaosOptions.builder("outbox").outbox(true).build().faults())
        .contains(Fault.RELAY_HALT)
        .hasSize(Fault.values().length);
    assertThatThrownBy(() -> ChaosOptions.builder("plain").faults(Fault.RELAY_HALT).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("idem.chaos.outbox=true");
  }

  @Test
  void theOutboxPropertyAddsTheRelayHaltToDefaultFaultsButNotToListedOnes() {
    ChaosOptions defaults =
        ChaosOptions.builder("soak").build().withOverrides(Map.of("idem.chaos.outbox", "true"));
    assertThat(defaults.outbox()).isTrue();
    assertThat(defaults.faults()).contains(Fault.RELAY_HALT);
    ChaosOptions listed =
        ChaosOptions.builder("mode")
            .faults(Fault.KILL, Fault.POSTGRES_RESTART)
            .build()
            .withOverrides(Map.of("idem.chaos.outbox", "true"));
    assertThat(listed.faults()).containsExactly(Fault.KILL, Fault.POSTGRES_RESTART);
  }
}
