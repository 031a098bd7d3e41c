package dev.idem.consumer.internal.retention;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.OffsetStore;
import dev.idem.consumer.internal.retention.TopicRetentionCheck.Finding;
import dev.idem.consumer.internal.retention.TopicRetentionCheck.Verdict;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class TopicRetentionCheckTest {
  private static final long MINUTE = Duration.ofMinutes(1).toMillis();
  private static final long HOUR = Duration.ofHours(1).toMillis();
  private static final long DAY = Duration.ofDays(1).toMillis();
  private static final String ESCAPE = "consumer.retention.allow-shorter-than-topic";

  private static TopicRetention deleting(long retentionMs, long segmentMs) {
    return new TopicRetention("payments", retentionMs, segmentMs, "delete", 5 * MINUTE);
  }

  private static List<Finding> judge(
      Duration window, OffsetStore store, boolean allowShorter, TopicRetention topic) {
    return new TopicRetentionCheck("ledger", window, store, allowShorter).judge(List.of(topic));
  }

  private static List<Finding> judgeInKafkaMode(Duration window, TopicRetention topic) {
    return judge(window, OffsetStore.KAFKA, false, topic);
  }

  @Test
  void aWindowShorterThanRetentionPlusSegmentPlusCheckIntervalIsRefusedWithOffsetsInKafka() {
    // retention.ms alone (7d) fits in 10d; a record written as its segment opened is deleted only
    // when the segment's newest record is 7d old, up to 7d later, at the next retention check.
    List<Finding> findings = judgeInKafkaMode(Duration.ofDays(10), deleting(7 * DAY, 7 * DAY));
    assertThat(findings).singleElement().extracting(Finding::verdict).isEqualTo(Verdict.REFUSE);
    assertThat(findings.get(0).topic()).isEqualTo("payments");
    assertThat(findings.get(0).message())
        .startsWith("10d is shorter than")
        .contains("topic payments")
        .contains("14d 5m")
        .contains(
            "retention.ms 7d + segment.ms 7d + the brokers' log.retention.check.interval.ms 5m")
        .contains("timestamps in the future")
        .contains("at least 14d 5m")
        .contains("consumer.offset-store=postgresql")
        .contains(ESCAPE + "=true");
  }

  @Test
  void theBrokersCheckIntervalIsPartOfTheBound() {
    assertThat(judgeInKafkaMode(Duration.ofDays(2), deleting(DAY, DAY)))
        .singleElement()
        .extracting(Finding::verdict)
        .isEqualTo(Verdict.REFUSE);
    assertThat(judgeInKafkaMode(Duration.ofDays(2).plusMinutes(5), deleting(DAY, DAY))).isEmpty();
  }

  @Test
  void aTopicThatDeletesRecordsBeforeTheWindowEndsPasses() {
    assertThat(judgeInKafkaMode(Duration.ofDays(3), deleting(DAY, DAY))).isEmpty();
    assertThat(judgeInKafkaMode(Duration.ofHours(3), deleting(HOUR, HOUR))).isEmpty();
  }

  @Test
  void aCompactedTopicIsRefusedWhateverItsRetention() {
    for (String policy : List.of("compact", "compact,delete")) {
      TopicRetention compacted = new TopicRetention("payments", HOUR, HOUR, policy, 5 * MINUTE);
      List<Finding> findings = judgeInKafkaMode(Duration.ofDays(365), compacted);
      assertThat(findings).singleElement().extracting(Finding::verdict).isEqualTo(Verdict.REFUSE);
      assertThat(findings.get(0).message())
          .startsWith("365d is shorter than")
          .contains("cleanup.policy=" + policy)
          .contains("consumer.retention.window=off")
          .contains(ESCAPE + "=true");
    }
  }

  @Test
  void unlimitedRetentionIsRefused() {
    List<Finding> findings = judgeInKafkaMode(Duration.ofDays(365), deleting(-1, DAY));
    assertThat(findings).singleElement().extracting(Finding::verdict).isEqualTo(Verdict.REFUSE);
    assertThat(findings.get(0).message())
        .contains("keeps records forever (retention.ms=-1)")
        .contains("consumer.retention.window=off")
        .contains(ESCAPE + "=true");
  }

  @Test
  void marksKeptForeverNeedNoCheck() {
    assertThat(judgeInKafkaMode(null, deleting(-1, DAY))).isEmpty();
    assertThat(
            judgeInKafkaMode(null, new TopicRetention("payments", -1, DAY, "compact", 5 * MINUTE)))
        .isEmpty();
  }

  @Test
  void theEscapeSettingTurnsTheRefusalIntoAWarning() {
    List<Finding> findings = judge(Duration.ofDays(1), OffsetStore.KAFKA, true, deleting(DAY, DAY));
    assertThat(findings).singleElement().extracting(Finding::verdict).isEqualTo(Verdict.WARN);
    assertThat(findings.get(0).message()).contains(ESCAPE + "=true").contains("2d 5m");
  }

  @Test
  void withOffsetsInPostgresqlAShorterWindowIsOnlyAWarning() {
    List<Finding> findings =
        judge(Duration.ofDays(1), OffsetStore.POSTGRESQL, false, deleting(DAY, DAY));
    assertThat(findings).singleElement().extracting(Finding::verdict).isEqualTo(Verdict.WARN);
    assertThat(findings.get(0).message())
        .contains("offsets in PostgreSQL")
        .contains("copies of an event at new offsets");
    assertThat(
            judge(
                Duration.ofDays(1),
                OffsetStore.POSTGRESQL,
                false,
                new TopicRetention("payments", -1, DAY, "compact", 5 * MINUTE)))
        .singleElement()
        .extracting(Finding::verdict)
        .isEqualTo(Verdict.WARN);
  }

  @Test
  void kafkasDefaultTopicRetentionPassesTheDefaultWindow() {
    // Kafka's defaults: retention.ms = segment.ms = 7 days, checks every 5 minutes.
    Duration defaultWindow =
        IdemConfig.builder("ledger")
            .bootstrapServers("localhost:9092")
            .topics("payments")
            .build()
            .retentionWindow();
    assertThat(judgeInKafkaMode(defaultWindow, deleting(7 * DAY, 7 * DAY))).isEmpty();
  }

  @Test
  void onlyTheTopicsThatOutliveTheMarksAreReported() {
    List<Finding> findings =
        new TopicRetentionCheck("ledger", Duration.ofDays(3), OffsetStore.KAFKA, false)
            .judge(
                List.of(
                    new TopicRetention("short", DAY, DAY, "delete", 5 * MINUTE),
                    new TopicRetention("long", 7 * DAY, DAY, "delete", 5 * MINUTE)));
    assertThat(findings).extracting(Finding::topic).containsExactly("long");
  }

  @Test
  void durationsAreWrittenTheWayTheyAreConfigured() {
    assertThat(TopicRetentionCheck.human(Duration.ofDays(14).plusMinutes(5))).isEqualTo("14d 5m");
    assertThat(TopicRetentionCheck.human(Duration.ofDays(7))).isEqualTo("7d");
    assertThat(TopicRetentionCheck.human(Duration.ofMillis(90_500))).isEqualTo("1m 30s 500ms");
    assertThat(TopicRetentionCheck.human(Duration.ZERO)).isEqualTo("0ms");
  }
}
