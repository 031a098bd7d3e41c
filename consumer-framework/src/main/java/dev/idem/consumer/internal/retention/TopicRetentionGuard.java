package dev.idem.consumer.internal.retention;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.OffsetStore;
import dev.idem.consumer.internal.retention.TopicRetentionCheck.Finding;
import dev.idem.consumer.internal.retention.TopicRetentionCheck.Verdict;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The start-up check of a consumer's processed-mark retention against its topics' retention: asks
 * the brokers ({@link TopicRetentionReader}) and acts on the decision ({@link
 * TopicRetentionCheck}).
 *
 * <p>With offsets in Kafka the check runs in {@link #start()}, which throws the refusal. When the
 * brokers do not answer within {@code consumer.retention.topic-check-timeout}, the consumer starts
 * unchecked (a delayed verdict loses nothing: marks only expire a whole window later) and the check
 * is repeated in the background until the brokers answer; a refusal then goes to the violation
 * callback, which stops the consumer. With offsets in PostgreSQL the check only warns, and runs in
 * the background from the start. Topics that do not exist yet, or whose settings may not be read,
 * are skipped with a warning.
 */
public final class TopicRetentionGuard {
  private static final Logger log = LoggerFactory.getLogger(TopicRetentionGuard.class);

  private final IdemConfig config;
  private final TopicRetentionReader reader;
  private final TopicRetentionCheck check;
  private final ScheduledExecutorService scheduler;
  private final Consumer<IdemConfigException> onViolation;
  private final Duration timeout;

  /**
   * @param config the consumer's configuration
   * @param scheduler where background checks run
   * @param onViolation told of a refusal found by a background check, to stop the consumer
   */
  public TopicRetentionGuard(
      IdemConfig config,
      ScheduledExecutorService scheduler,
      Consumer<IdemConfigException> onViolation) {
    this.config = config;
    this.reader =
        new TopicRetentionReader(config.kafka(), "idem-" + config.consumerName() + "-admin");
    this.check =
        new TopicRetentionCheck(
            config.consumerName(),
            config.retentionWindow(),
            config.offsetStore(),
            config.retentionAllowShorterThanTopic());
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    this.onViolation = Objects.requireNonNull(onViolation, "onViolation");
    this.timeout = config.retentionTopicCheckTimeout();
  }

  /**
   * Runs the check: now with offsets in Kafka, in the background with offsets in PostgreSQL.
   *
   * @throws IdemConfigException naming {@code consumer.retention.window} when, with offsets in
   *     Kafka, a topic can deliver records for longer than the window
   */
  public void start() {
    if (config.retentionWindow() == null) {
      return; // marks are kept forever
    }
    if (config.offsetStore() == OffsetStore.KAFKA) {
      if (!attempt(When.AT_START)) {
        log.warn(
            "the brokers did not report the retention of {} within {} ms"
                + " (consumer.retention.topic-check-timeout); consumer {} starts without the check"
                + " of consumer.retention.window, asks again in the background until they answer,"
                + " and stops if the answer refuses the window",
            config.topics(),
            timeout.toMillis(),
            config.consumerName());
        scheduleRecheck();
      }
    } else {
      scheduler.execute(
          () -> {
            if (!attempt(When.LATER)) {
              log.warn(
                  "the brokers did not report the retention of {} within {} ms; asking again",
                  config.topics(),
                  timeout.toMillis());
              scheduleRecheck();
            }
          });
    }
  }

  private void scheduleRecheck() {
    scheduler.schedule(
        () -> {
          if (!attempt(When.LATER)) {
            scheduleRecheck();
          }
        },
        timeout.toMillis(),
        TimeUnit.MILLISECONDS);
  }

  /** When a check runs: a refusal at start is thrown, a later one stops the running consumer. */
  private enum When {
    AT_START,
    LATER
  }

  /**
   * One try. Returns false when the brokers did not answer; throws a refusal at start, hands it to
   * the violation callback later.
   */
  private boolean attempt(When when) {
    TopicRetentionReader.Reading reading;
    try {
      reading = reader.read(config.topics(), timeout);
    } catch (TopicRetentionReader.Unanswered e) {
      log.debug("retention of {} not read: {}", config.topics(), e.getMessage());
      return false;
    }
    for (String topic : reading.missing()) {
      log.warn(
          "topic {} does not exist yet: consumer.retention.window of consumer {} was not checked"
              + " against its retention; the next start checks it",
          topic,
          config.consumerName());
    }
    reading
        .unreadable()
        .forEach(
            (topic, why) ->
                log.warn(
                    "cannot read the retention settings of topic {} ({}): consumer.retention.window"
                        + " of consumer {} was not checked against it; allow the consumer's"
                        + " principal DESCRIBE_CONFIGS on the topic",
                    topic,
                    why,
                    config.consumerName()));
    List<Finding> refusals = new ArrayList<>();
    for (Finding f : check.judge(reading.topics())) {
      if (f.verdict() == Verdict.REFUSE) {
        refusals.add(f);
      } else {
        log.warn("{}: {}", TopicRetentionCheck.WINDOW_KEY, f.message());
      }
    }
    if (refusals.isEmpty()) {
      return true;
    }
    String message = refusals.get(0).message();
    if (refusals.size() > 1) {
      message +=
          " (also refused for topics "
              + refusals.subList(1, refusals.size()).stream().map(Finding::topic).toList()
              + ")";
    }
    IdemConfigException refusal = new IdemConfigException(TopicRetentionCheck.WINDOW_KEY, message);
    if (when == When.AT_START) {
      throw refusal;
    }
    onViolation.accept(refusal);
    return true;
  }
}
