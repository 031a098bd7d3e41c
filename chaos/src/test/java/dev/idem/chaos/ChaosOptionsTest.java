package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The outbox scenario's options: its fault only with it, and the default faults follow it. Hung and
 * slow-failing events: in share groups in record mode only, where they are on by default.
 */
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

  @Test
  void hungAndSlowFailingEventsFollowTheGroupTypeAndModeUnlessSet() {
    ChaosOptions consumerGroup = ChaosOptions.builder("plain").build();
    assertThat(consumerGroup.hangRate()).isZero();
    assertThat(consumerGroup.slowFailRate()).isZero();
    ChaosOptions share = consumerGroup.withOverrides(Map.of("idem.chaos.group-type", "share"));
    assertThat(share.hangRate()).isEqualTo(ChaosOptions.DEFAULT_HANG_RATE);
    assertThat(share.slowFailRate()).isEqualTo(ChaosOptions.DEFAULT_SLOW_FAIL_RATE);
    ChaosOptions shareBatch = share.withOverrides(Map.of("idem.chaos.mode", "batch"));
    assertThat(shareBatch.hangRate()).isZero();
    assertThat(shareBatch.slowFailRate()).isZero();
    ChaosOptions set =
        share.withOverrides(
            Map.of(
                "idem.chaos.hang-rate", "0.01",
                "idem.chaos.slow-fail-rate", "0",
                "idem.chaos.share-renewals", "false"));
    assertThat(set.hangRate()).isEqualTo(0.01);
    assertThat(set.slowFailRate()).isZero();
    assertThat(set.shareRenewals()).isFalse();
  }

  @Test
  void hungEventsOutsideAShareGroupInRecordModeAreRefused() {
    assertThatThrownBy(() -> ChaosOptions.builder("plain").hangRate(0.01).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("idem.chaos.group-type=share");
    assertThatThrownBy(
            () ->
                ChaosOptions.builder("batch")
                    .share(true)
                    .mode(ChaosOptions.Mode.BATCH)
                    .slowFailRate(0.01)
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("idem.chaos.slow-fail-rate=0");
    assertThatThrownBy(() -> ChaosOptions.builder("plain").shareRenewals(false).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("share group");
  }

  @Test
  void theSeedDrawsWhetherAShareGroupRenewsLocksAndAPropertyOrAnotherSeedDecidesAgain() {
    java.util.Set<Boolean> seen = new java.util.HashSet<>();
    for (long seed = 0; seed < 20; seed++) {
      ChaosOptions share = ChaosOptions.builder("share").share(true).seed(seed).build();
      seen.add(share.shareRenewals());
      assertThat(share.toBuilder().build().shareRenewals()).isEqualTo(share.shareRenewals());
    }
    assertThat(seen).containsExactlyInAnyOrder(true, false);
    assertThat(ChaosOptions.builder("plain").build().shareRenewals()).isTrue();
    ChaosOptions one = ChaosOptions.builder("share").share(true).seed(1).build();
    ChaosOptions other =
        ChaosOptions.builder("share")
            .share(true)
            .seed(1)
            .shareRenewals(!one.shareRenewals())
            .build();
    assertThat(other.shareRenewals()).isNotEqualTo(one.shareRenewals());
    for (String value : java.util.List.of("true", "false")) {
      assertThat(one.withOverrides(Map.of("idem.chaos.share-renewals", value)).shareRenewals())
          .isEqualTo(Boolean.parseBoolean(value));
    }
  }
}
