package dev.idem.consumer.internal.retention;

import java.time.Duration;
import java.util.Objects;

/**
 * How long one topic keeps its records, as the brokers report it: the effective values, whether set
 * on the topic or inherited from the broker's defaults.
 *
 * @param topic the topic
 * @param retentionMs {@code retention.ms}; negative (Kafka writes -1) when time does not limit it
 * @param segmentMs {@code segment.ms}: how long a segment stays open for new records at most
 * @param compacted whether {@code cleanup.policy} includes {@code compact} ({@code compact} or
 *     {@code compact,delete})
 * @param checkIntervalMs the brokers' {@code log.retention.check.interval.ms}: how often they look
 *     for segments to delete
 */
public record TopicRetention(
    String topic, long retentionMs, long segmentMs, boolean compacted, long checkIntervalMs) {

  /** Kafka's default {@code log.retention.check.interval.ms}, assumed when a broker cannot say. */
  public static final long DEFAULT_CHECK_INTERVAL_MS = Duration.ofMinutes(5).toMillis();

  public TopicRetention {
    Objects.requireNonNull(topic, "topic");
  }
}
