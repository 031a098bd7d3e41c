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

  /** The findings about {@code topics}; empty when every topic is covered by the window. */
  public List<Finding> judge(Collection<TopicRetention> topics) {
    List<Finding> findings = new ArrayList<>();
    if (window == null) {
      return findings;
    }
    for (TopicRetention t : topics) {
      long retentionMs = t.retentionMs();
      if (retentionMs < 0 || retentionMs > window.toMillis()) {
        findings.add(
            new Finding(
                t.topic(),
                Verdict.WARN,
                "topic "
                    + t.topic()
                    + " keeps records for "
                    + (retentionMs < 0 ? "ever" : Duration.ofMillis(retentionMs))
                    + " but consumer "
                    + consumerName
                    + " keeps processed marks for "
                    + window
                    + ": a replay or offset reset to older records would apply them again; raise"
                    + " consumer.retention.window above the topic's retention plus the providers'"
                    + " retry window"));
      }
    }
    return findings;
  }
}
