package dev.idem.consumer.internal.offset;

import dev.idem.consumer.internal.store.OffsetRows;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * Done offsets as the poll loop sees them where they are kept: in Kafka only ({@link #KAFKA}:
 * nothing to load, skip or fold), or also in PostgreSQL ({@link DatabaseOffsets}, {@code
 * consumer.offset-store=postgresql}), where they are authoritative.
 */
public interface StoredOffsets {

  /**
   * The stored state of a partition, loaded for the assignment {@code epoch}.
   *
   * @param partition the partition
   * @param epoch the assignment it was loaded for
   * @param stored the position and done offsets
   */
  record Loaded(TopicPartition partition, long epoch, OffsetRows.Stored stored) {}

  /** Offsets kept in Kafka only: Kafka's committed offset is where a partition resumes. */
  StoredOffsets KAFKA =
      new StoredOffsets() {
        @Override
        public Set<TopicPartition> load(Map<TopicPartition, Long> epochs) {
          return Set.of();
        }

        @Override
        public List<Loaded> takeLoaded() {
          return List.of();
        }

        @Override
        public void retryLater(Collection<Loaded> notApplied) {}

        @Override
        public void skip(TopicPartition tp, NavigableSet<Long> done, long from) {}

        @Override
        public boolean isDone(TopicPartition tp, long offset) {
          return false;
        }

        @Override
        public void foldAsync(Map<TopicPartition, Long> watermarks) {}

        @Override
        public void foldAndWait(Map<TopicPartition, Long> watermarks, Duration timeout) {}

        @Override
        public void forget(Collection<TopicPartition> tps) {}
      };

  /**
   * Starts loading the stored state of newly assigned partitions ({@link #takeLoaded()} hands it
   * over); returns the partitions to keep paused until then (none when nothing is stored).
   */
  Set<TopicPartition> load(Map<TopicPartition, Long> epochs);

  /** Loads finished since the last call (for partitions that may have been revoked meanwhile). */
  List<Loaded> takeLoaded();

  /** Hands back loads the poll thread could not apply yet; kept in order. */
  void retryLater(Collection<Loaded> notApplied);

  /** Starts skipping {@code done} offsets of {@code tp} from {@code from} as they are polled. */
  void skip(TopicPartition tp, NavigableSet<Long> done, long from);

  /** Whether the polled record at {@code offset} of {@code tp} is recorded as done. */
  boolean isDone(TopicPartition tp, long offset);

  /** Folds the watermarks that moved into the stored positions, in the background. */
  void foldAsync(Map<TopicPartition, Long> watermarks);

  /** Folds {@code watermarks} now, waiting up to {@code timeout} (a revoke, a close). */
  void foldAndWait(Map<TopicPartition, Long> watermarks, Duration timeout);

  /** Forgets partitions that are no longer assigned. */
  void forget(Collection<TopicPartition> tps);
}
