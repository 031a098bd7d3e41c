package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What ready() and live() make of a health view's parts: pure logic, no servers. */
class ConsumerHealthTest {
  private static final Duration STALL = Duration.ofSeconds(41);

  @Test
  void aRunningConsumerThatReachesBothServersAndPollsIsReadyAndLive() {
    ConsumerHealth h = health(ConsumerState.RUNNING, true, true, 0, Duration.ofMillis(100));

    assertThat(h.ready()).isTrue();
    assertThat(h.live()).isTrue();
    assertThat(h.healthy()).isTrue();
    assertThat(h.pollStalled()).isFalse();
  }

  @Test
  void anUnreachableDatabaseOrBrokerMakesItNotReadyButLeavesItLive() {
    ConsumerHealth noDatabase = health(ConsumerState.RUNNING, false, true, 0, Duration.ZERO);
    ConsumerHealth noBroker = health(ConsumerState.RUNNING, true, false, 0, Duration.ZERO);

    assertThat(noDatabase.ready()).isFalse();
    assertThat(noDatabase.live()).isTrue();
    assertThat(noBroker.ready()).isFalse();
    assertThat(noBroker.live()).isTrue();
    assertThat(noBroker.healthy()).isFalse();
  }

  @Test
  void moreStuckWorkersThanMayBeAbandonedMakeItNotReadyButLeaveItLive() {
    ConsumerHealth withinCap = health(ConsumerState.RUNNING, true, true, 2, Duration.ZERO);
    ConsumerHealth pastCap = health(ConsumerState.RUNNING, true, true, 3, Duration.ZERO);

    assertThat(withinCap.ready()).isTrue();
    assertThat(pastCap.ready()).isFalse();
    assertThat(pastCap.live()).isTrue();
  }

  @Test
  void aRunningConsumerWhosePollLoopIsSilentPastTheStallTimeoutIsNeitherLiveNorReady() {
    ConsumerHealth atBound = health(ConsumerState.RUNNING, true, true, 0, STALL);
    ConsumerHealth past = health(ConsumerState.RUNNING, true, true, 0, STALL.plusMillis(1));

    assertThat(atBound.live()).isTrue();
    assertThat(past.pollStalled()).isTrue();
    assertThat(past.live()).isFalse();
    assertThat(past.ready()).as("its other parts are stale, so not ready either").isFalse();
  }

  @Test
  void silenceOfAConsumerThatDoesNotRunIsNoStall() {
    Duration long_ = STALL.multipliedBy(10);
    for (ConsumerState state :
        Set.of(
            ConsumerState.CREATED,
            ConsumerState.STARTING,
            ConsumerState.CLOSING,
            ConsumerState.CLOSED)) {
      ConsumerHealth h = health(state, true, true, 0, long_);
      assertThat(h.live()).as(state + " live").isTrue();
      assertThat(h.ready()).as(state + " ready").isFalse();
    }
  }

  @Test
  void aFailedConsumerIsNeitherLiveNorReady() {
    ConsumerHealth h = health(ConsumerState.FAILED, true, true, 0, Duration.ZERO);

    assertThat(h.live()).isFalse();
    assertThat(h.ready()).isFalse();
  }

  private static ConsumerHealth health(
      ConsumerState state, boolean database, boolean broker, int stuck, Duration sinceLastPoll) {
    return ConsumerHealth.builder("c", state)
        .databaseReachable(database)
        .stuckWorkers(stuck)
        .maxAbandonedWorkers(2)
        .brokerReachable(broker)
        .lastPoll(Instant.parse("2026-12-02T00:00:00Z"))
        .sinceLastPoll(sinceLastPoll)
        .pollStallTimeout(STALL)
        .build();
  }
}
