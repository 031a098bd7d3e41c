package dev.idem.consumer.internal.retention;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * How long one topic keeps its records, as the brokers report it: the effective values, whether set
 * on the topic or inherited from the broker's defaults.
 *
 * @param topic the topic
 * @param retentionMs {@code retention.ms}; negative (Kafka writes -1) when time does not limit it
 * @param segmentMs {@code segment.ms}: how long a segment stays open for new records at most
 * @param cleanupPolicy {@code cleanup.policy}: {@code delete}, {@code compact} or {@code
 *     compact,delete}
 * @param checkIntervalMs the brokers' {@code log.retention.check.interval.ms}: how often they look
 *     for segments to delete
 */
public record TopicRetention(
    String topic, long retentionMs, long segmentMs, String cleanupPolicy, long checkIntervalMs) {

  /** Kafka's default {@code log.retention.check.interval.ms}, assumed when a broker cannot say. */
  public static final long DEFAULT_CHECK_INTERVAL_MS = Duration.ofMinutes(5).toMillis();

  public TopicRetention {
    Objects.requireNonNull(topic, "topic");
    Objects.requireNonNull(cleanupPolicy, "cleanupPolicy");
  }

  /**
   * Whether the policy includes {@code compact}: then Kafka keeps the newest record of every key
   * however old it is, also with {@code compact,delete} (the cleaner merges old segments with newer
   * ones, so a surviving record's segment can outlive {@code retention.ms + segment.ms}).
   */
  public boolean compacted() {
    // "compact", "compact,delete"; some tools print lists as "[compact, delete]".
    return Arrays.stream(cleanupPolicy.toLowerCase(Locale.ROOT).split("[,\\s\\[\\]]+"))
        .anyMatch("compact"::equals);
  }
}
