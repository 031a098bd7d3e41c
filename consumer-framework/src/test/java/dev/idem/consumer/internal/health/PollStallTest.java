package dev.idem.consumer.internal.health;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.IdemConfig;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class PollStallTest {
  @Test
  void theStallTimeoutIsTheDrainTimeoutPlusTenPollTimeoutsPlusThirtySeconds() {
    IdemConfig defaults = IdemConfig.builder("c").bootstrapServers("b:9092").topics("t").build();
    IdemConfig tuned =
        IdemConfig.builder("c")
            .bootstrapServers("b:9092")
            .topics("t")
            .drainTimeout(Duration.ofSeconds(20))
            .set("consumer.poll-timeout", "500ms")
            .build();

    assertThat(PollStall.timeout(defaults))
        .as("10 s drain + 10 x 100 ms + 30 s")
        .isEqualTo(Duration.ofSeconds(41));
    assertThat(PollStall.timeout(tuned)).isEqualTo(Duration.ofSeconds(55));
  }
}
