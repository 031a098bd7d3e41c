package dev.idem.consumer.internal.share;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The start-up warning about timeouts against a share group's record lock. */
class ShareGroupSettingsTest {
  private static final Duration LOCK = Duration.ofSeconds(30);

  @Test
  void aGroupThatRenewsLocksNeedsNoWarningWhateverTheTimeouts() {
    ShareGroupSettings renewing = new ShareGroupSettings(5, LOCK, true);

    assertThat(renewing.timeoutWarning("g", Duration.ofSeconds(30), Duration.ofSeconds(60)))
        .isNull();
  }

  @Test
  void withoutRenewalsTimeoutsWithinEightyPercentOfTheLockNeedNoWarning() {
    ShareGroupSettings notRenewing = new ShareGroupSettings(5, LOCK, false);

    assertThat(notRenewing.timeoutWarning("g", Duration.ofSeconds(4), Duration.ofSeconds(20)))
        .isNull();
  }

  @Test
  void withoutRenewalsTimeoutsPastEightyPercentOfTheLockAreNamedWithTheGroupSettingAndTheFix() {
    ShareGroupSettings notRenewing = new ShareGroupSettings(5, LOCK, false);

    String warning =
        notRenewing.timeoutWarning("orders", Duration.ofSeconds(5), Duration.ofSeconds(20));

    assertThat(warning)
        .contains("share group orders")
        .contains("consumer.lock-timeout + consumer.handler-timeout = 25000 ms")
        .contains("share.record.lock.duration.ms=30000")
        .contains("share.renew.acknowledge.enable=true");
  }
}
