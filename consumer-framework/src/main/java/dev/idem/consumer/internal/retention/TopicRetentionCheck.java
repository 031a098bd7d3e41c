package dev.idem.consumer.internal.retention;

import dev.idem.consumer.OffsetStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * Decides whether a consumer's processed marks outlive what its topics can still deliver: a record
 * delivered again (an offset reset, a recreated group) after its mark was deleted is applied again.
 * Pure logic; {@link TopicRetentionReader} asks the brokers.
 */
public final class TopicRetentionCheck {
  /** The setting the findings are about. */
  public static final String WINDOW_KEY = "consumer.retention.window";

  /** The setting that turns a refusal into a warning. */
  public static final String ESCAPE_KEY = "consumer.retention.allow-shorter-than-topic";

  private final String consumerName;
  private final Duration window;
  private final OffsetStore offsetStore;
  private final boolean allowShorter;

  /**
   * @param consumerName the consumer, for messages
   * @param window how long processed marks are kept, or null when they are kept forever
   * @param offsetStore where the consumer's done offsets are authoritative
   * @param allowShorter whether the operator accepts a window shorter than the topics' retention
   */
  public TopicRetentionCheck(
      String consumerName, Duration window, OffsetStore offsetStore, boolean allowShorter) {
    this.consumerName = Objects.requireNonNull(consumerName, "consumerName");
    this.window = window;
    this.offsetStore = Objects.requireNonNull(offsetStore, "offsetStore");
    this.allowShorter = allowShorter;
  }

  /** What to do about one topic. */
  public enum Verdict {
    /** Start (or keep running) and log the message as a warning. */
    WARN,
    /** Do not start: the message says why and how to fix it. */
    REFUSE
  }

  /**
   * A topic whose records may outlive their marks.
   *
   * @param topic the topic
   * @param verdict what to do
   * @param message what is wrong and how to fix it, naming the settings
   */
  public record Finding(String topic, Verdict verdict, String message) {}

  /**
   * How long after it was written Kafka may still deliver a record of {@code topic}, or null when
   * nothing bounds it (compaction, unlimited retention). Kafka deletes whole segments, once the
   * newest record of a segment is older than {@code retention.ms}; a segment takes records for up
   * to {@code segment.ms} (size-based rolls only make it shorter); the brokers look for such
   * segments every {@code log.retention.check.interval.ms}. Record timestamps are trusted: with
   * CreateTime, a producer's timestamp in the future keeps its segment longer still.
   */
  static Duration redeliveryBound(TopicRetention topic) {
    if (topic.compacted() || topic.retentionMs() < 0) {
      return null;
    }
    long ms = topic.retentionMs();
    for (long part : new long[] {Math.max(0, topic.segmentMs()), topic.checkIntervalMs()}) {
      ms = ms > Long.MAX_VALUE - part ? Long.MAX_VALUE : ms + part;
    }
    return Duration.ofMillis(ms);
  }

  /** The findings about {@code topics}; empty when every topic is covered by the window. */
  public List<Finding> judge(Collection<TopicRetention> topics) {
    List<Finding> findings = new ArrayList<>();
    if (window == null) {
      return findings; // marks are kept forever
    }
    for (TopicRetention t : topics) {
      Duration bound = redeliveryBound(t);
      if (bound != null && bound.compareTo(window) <= 0) {
        continue;
      }
      boolean refuse = offsetStore == OffsetStore.KAFKA && !allowShorter;
      findings.add(
          new Finding(t.topic(), refuse ? Verdict.REFUSE : Verdict.WARN, message(t, bound)));
    }
    return findings;
  }

  private String message(TopicRetention t, Duration bound) {
    StringBuilder m = new StringBuilder();
    if (offsetStore == OffsetStore.KAFKA && allowShorter) {
      m.append("started anyway because ").append(ESCAPE_KEY).append("=true: ");
    }
    m.append(human(window)).append(" is shorter than ");
    if (t.compacted()) {
      m.append("topic ")
          .append(t.topic())
          .append(" keeps records: it is compacted (cleanup.policy=")
          .append(t.cleanupPolicy())
          .append("), so Kafka keeps the newest record of every key forever");
    } else if (bound == null) {
      m.append("topic ").append(t.topic()).append(" keeps records forever (retention.ms=-1)");
    } else {
      m.append(human(bound))
          .append(", how long topic ")
          .append(t.topic())
          .append(" can still deliver a record after it was written (retention.ms ")
          .append(human(Duration.ofMillis(t.retentionMs())))
          .append(" + segment.ms ")
          .append(human(Duration.ofMillis(Math.max(0, t.segmentMs()))))
          .append(" + the brokers' log.retention.check.interval.ms ")
          .append(human(Duration.ofMillis(t.checkIntervalMs())))
          .append("; records with CreateTime timestamps in the future stay longer still)");
    }
    if (offsetStore == OffsetStore.KAFKA) {
      m.append(": with offsets in Kafka, a replay from an old offset (an offset reset, a consumer")
          .append(" group recreated with auto.offset.reset=earliest) after consumer ")
          .append(consumerName)
          .append("'s processed marks are deleted applies those events again");
    } else {
      m.append(": with offsets in PostgreSQL the stored positions skip a replay of old offsets,")
          .append(" so consumer ")
          .append(consumerName)
          .append(" starts; but records re-read after a stored position is moved back, or after")
          .append(" switching consumer.offset-store to kafka, are applied again once their marks")
          .append(
              " are deleted, and copies of an event at new offsets are caught only by its mark");
    }
    m.append(". ");
    if (bound != null) {
      m.append("Raise ")
          .append(WINDOW_KEY)
          .append(" to at least ")
          .append(human(bound))
          .append(" plus the providers' retry window, or lower the topic's retention.ms or")
          .append(" segment.ms");
    } else {
      m.append("Set ").append(WINDOW_KEY).append("=off (marks kept forever)");
      if (!t.compacted()) {
        m.append(", or give the topic a finite retention.ms");
      }
    }
    if (offsetStore == OffsetStore.KAFKA) {
      m.append(", or keep offsets in PostgreSQL (consumer.offset-store=postgresql)");
      if (!allowShorter) {
        m.append(", or set ").append(ESCAPE_KEY).append("=true to start anyway");
      }
    }
    return m.toString();
  }

  /** A duration the way the configuration writes it: {@code 14d 5m}, {@code 1m 30s 500ms}. */
  static String human(Duration d) {
    long ms = d.toMillis();
    if (ms == 0) {
      return "0ms";
    }
    StringBuilder sb = new StringBuilder();
    long[] units = {86_400_000L, 3_600_000L, 60_000L, 1_000L, 1L};
    String[] names = {"d", "h", "m", "s", "ms"};
    for (int i = 0; i < units.length; i++) {
      long n = ms / units[i];
      ms %= units[i];
      if (n > 0) {
        sb.append(sb.length() == 0 ? "" : " ").append(n).append(names[i]);
      }
    }
    return sb.toString();
  }
}
