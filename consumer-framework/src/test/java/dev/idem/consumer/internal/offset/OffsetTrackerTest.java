package dev.idem.consumer.internal.offset;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class OffsetTrackerTest {
  private final TopicPartition p0 = new TopicPartition("t", 0);
  private final TopicPartition p1 = new TopicPartition("t", 1);
  private final OffsetTracker tracker = new OffsetTracker();

  @Test
  void watermarkIsLastDoneOfTheContiguousPrefixPlusOne() {
    tracker.assigned(List.of(p0));
    long epoch = tracker.epoch(p0);
    for (long o = 10; o < 15; o++) {
      tracker.track(p0, o);
    }
    tracker.done(p0, epoch, 12);
    tracker.done(p0, epoch, 11);
    assertThat(tracker.watermark(p0)).isEqualTo(-1);
    assertThat(tracker.committable()).isEmpty();
    tracker.done(p0, epoch, 10);
    assertThat(tracker.watermark(p0)).isEqualTo(13);
    assertThat(tracker.committable()).isEqualTo(Map.of(p0, new OffsetAndMetadata(13)));
  }

  @Test
  void gapsFromTransactionMarkersAndCompactionAreNotAwaited() {
    tracker.assigned(List.of(p0));
    long epoch = tracker.epoch(p0);
    tracker.track(p0, 5);
    tracker.track(p0, 9); // 6, 7, 8 never returned by poll (markers, compacted away)
    tracker.track(p0, 20);
    tracker.done(p0, epoch, 5);
    tracker.done(p0, epoch, 9);
    assertThat(tracker.watermark(p0)).isEqualTo(10);
    tracker.done(p0, epoch, 20);
    assertThat(tracker.watermark(p0)).isEqualTo(21);
  }

  @Test
  void aSlowRecordHoldsBackOnlyItsOwnPartition() {
    tracker.assigned(List.of(p0, p1));
    tracker.track(p0, 0);
    tracker.track(p0, 1);
    tracker.track(p1, 0);
    tracker.track(p1, 1);
    tracker.done(p0, tracker.epoch(p0), 1);
    tracker.done(p1, tracker.epoch(p1), 0);
    tracker.done(p1, tracker.epoch(p1), 1);
    assertThat(tracker.committable()).isEqualTo(Map.of(p1, new OffsetAndMetadata(2)));
    assertThat(tracker.pending(p0)).isEqualTo(1);
  }

  @Test
  void completionsOfAnEarlierAssignmentAreIgnored() {
    tracker.assigned(List.of(p0));
    long old = tracker.epoch(p0);
    tracker.track(p0, 0);
    tracker.removed(List.of(p0));
    assertThat(tracker.done(p0, old, 0)).isFalse();
    tracker.assigned(List.of(p0));
    tracker.track(p0, 0);
    assertThat(tracker.done(p0, old, 0)).isFalse();
    assertThat(tracker.watermark(p0)).isEqualTo(-1);
    assertThat(tracker.done(p0, tracker.epoch(p0), 0)).isTrue();
    assertThat(tracker.watermark(p0)).isEqualTo(1);
  }

  @Test
  void committedOffsetsAreNotOfferedAgainUnlessTheCommitFailed() {
    tracker.assigned(List.of(p0));
    tracker.track(p0, 0);
    tracker.done(p0, tracker.epoch(p0), 0);
    Map<TopicPartition, OffsetAndMetadata> offsets = tracker.committable();
    tracker.committed(offsets);
    assertThat(tracker.committable()).isEmpty();
    tracker.commitFailed(offsets);
    assertThat(tracker.committable()).isEqualTo(offsets);
    tracker.committed(offsets);
    tracker.commitConfirmed(offsets);
    assertThat(tracker.confirmed()).isEqualTo(Map.of(p0, 1L));
  }

  @Test
  void aRedeliveryAfterASeekStartsTrackingOver() {
    tracker.assigned(List.of(p0));
    long epoch = tracker.epoch(p0);
    tracker.track(p0, 0);
    tracker.track(p0, 1);
    tracker.track(p0, 2);
    tracker.done(p0, epoch, 0);
    tracker.track(p0, 1); // seek back to 1
    tracker.track(p0, 2);
    tracker.done(p0, epoch, 1);
    tracker.done(p0, epoch, 2);
    assertThat(tracker.watermark(p0)).isEqualTo(3);
    assertThat(tracker.pending(p0)).isZero();
  }
}
