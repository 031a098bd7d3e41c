package dev.idem.consumer.internal.offset;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Per-partition offset watermarks. Used by the poll thread only.
 *
 * <p>Every record that poll returned is tracked in offset order; completions may arrive in any
 * order. The committable offset of a partition is {@code lastDone.offset() + 1} over the contiguous
 * prefix of done records. Offsets are never assumed consecutive: transaction markers and compaction
 * leave gaps, so only offsets poll actually returned count.
 *
 * <p>Each assignment of a partition gets a new epoch; completions carry the epoch they were
 * dispatched under, and completions of an earlier assignment are ignored.
 */
public final class OffsetTracker {
  private final Map<TopicPartition, PartitionOffsets> partitions = new HashMap<>();
  private long nextEpoch = 1;

  /** Starts tracking newly assigned partitions, each under a new epoch. */
  public void assigned(Collection<TopicPartition> assigned) {
    for (TopicPartition tp : assigned) {
      partitions.put(tp, new PartitionOffsets(nextEpoch++));
    }
  }

  /** Stops tracking partitions (revoked or lost); later completions for them are ignored. */
  public void removed(Collection<TopicPartition> removed) {
    removed.forEach(partitions::remove);
  }

  /** The current epoch of a partition, or -1 when it is not assigned. */
  public long epoch(TopicPartition tp) {
    PartitionOffsets p = partitions.get(tp);
    return p == null ? -1 : p.epoch;
  }

  /** Tracks a record poll returned. Offsets of one partition must arrive in increasing order. */
  public void track(TopicPartition tp, long offset) {
    PartitionOffsets p = partitions.get(tp);
    if (p == null) {
      throw new IllegalStateException(tp + " is not assigned");
    }
    if (offset <= p.highestTracked) {
      // A re-delivery after a seek: start over from here.
      p.pending.tailMap(offset, true).clear();
    }
    p.pending.put(offset, Boolean.FALSE);
    p.highestTracked = offset;
  }

  /**
   * Marks a record done (processed, skipped as a duplicate, or dead-lettered).
   *
   * @return false when the completion belongs to an earlier assignment or an untracked record
   */
  public boolean done(TopicPartition tp, long epoch, long offset) {
    PartitionOffsets p = partitions.get(tp);
    if (p == null || p.epoch != epoch || !p.pending.containsKey(offset)) {
      return false;
    }
    p.pending.put(offset, Boolean.TRUE);
    while (!p.pending.isEmpty() && p.pending.firstEntry().getValue()) {
      long first = p.pending.pollFirstEntry().getKey();
      p.watermark = first + 1;
    }
    return true;
  }

  /** Tracked records not yet done in a partition. */
  public int pending(TopicPartition tp) {
    PartitionOffsets p = partitions.get(tp);
    return p == null ? 0 : (int) p.pending.values().stream().filter(d -> !d).count();
  }

  /**
   * Records tracked above the partition's watermark, finished or not: what a crash would redeliver
   * and what the tracker holds in memory for it.
   */
  public int uncommitted(TopicPartition tp) {
    PartitionOffsets p = partitions.get(tp);
    return p == null ? 0 : p.pending.size();
  }

  /** {@link #uncommitted(TopicPartition)} of every tracked partition. */
  public Map<TopicPartition, Integer> uncommitted() {
    Map<TopicPartition, Integer> result = new HashMap<>();
    partitions.forEach((tp, p) -> result.put(tp, p.pending.size()));
    return result;
  }

  /** The watermark of a partition (next offset to commit), or -1 when nothing is done yet. */
  public long watermark(TopicPartition tp) {
    PartitionOffsets p = partitions.get(tp);
    return p == null ? -1 : p.watermark;
  }

  /** The watermarks of every tracked partition where something is done. */
  public Map<TopicPartition, Long> watermarks() {
    return watermarks(partitions.keySet());
  }

  /** The watermarks of the given partitions where something is done. */
  public Map<TopicPartition, Long> watermarks(Collection<TopicPartition> tps) {
    Map<TopicPartition, Long> result = new HashMap<>();
    for (TopicPartition tp : tps) {
      PartitionOffsets p = partitions.get(tp);
      if (p != null && p.watermark >= 0) {
        result.put(tp, p.watermark);
      }
    }
    return result;
  }

  /** Watermarks that moved since they were last {@linkplain #committed committed}. */
  public Map<TopicPartition, OffsetAndMetadata> committable() {
    return committable(partitions.keySet());
  }

  /** Watermarks of the given partitions that moved since they were last committed. */
  public Map<TopicPartition, OffsetAndMetadata> committable(Collection<TopicPartition> tps) {
    Map<TopicPartition, OffsetAndMetadata> result = new HashMap<>();
    for (TopicPartition tp : tps) {
      PartitionOffsets p = partitions.get(tp);
      if (p != null && p.watermark > p.committed) {
        result.put(tp, new OffsetAndMetadata(p.watermark));
      }
    }
    return result;
  }

  /** Records that offsets were committed (or are being committed) so they are not sent again. */
  public void committed(Map<TopicPartition, OffsetAndMetadata> offsets) {
    offsets.forEach(
        (tp, om) -> {
          PartitionOffsets p = partitions.get(tp);
          if (p != null) {
            p.committed = Math.max(p.committed, om.offset());
          }
        });
  }

  /** Forgets a failed commit so the next {@link #committable()} offers those offsets again. */
  public void commitFailed(Map<TopicPartition, OffsetAndMetadata> offsets) {
    offsets.forEach(
        (tp, om) -> {
          PartitionOffsets p = partitions.get(tp);
          if (p != null && p.committed == om.offset()) {
            p.committed = p.confirmed;
          }
        });
  }

  /** Records that the broker acknowledged a commit. */
  public void commitConfirmed(Map<TopicPartition, OffsetAndMetadata> offsets) {
    offsets.forEach(
        (tp, om) -> {
          PartitionOffsets p = partitions.get(tp);
          if (p != null) {
            p.confirmed = Math.max(p.confirmed, om.offset());
          }
        });
  }

  /** The last offset the broker acknowledged per partition. */
  public Map<TopicPartition, Long> confirmed() {
    Map<TopicPartition, Long> result = new HashMap<>();
    partitions.forEach((tp, p) -> result.put(tp, p.confirmed));
    return result;
  }

  private static final class PartitionOffsets {
    final long epoch;
    final TreeMap<Long, Boolean> pending = new TreeMap<>();
    long highestTracked = -1;
    long watermark = -1;
    long committed = -1;
    long confirmed = -1;

    PartitionOffsets(long epoch) {
      this.epoch = epoch;
    }
  }
}
