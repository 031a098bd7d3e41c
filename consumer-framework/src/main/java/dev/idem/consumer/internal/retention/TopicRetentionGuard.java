package dev.idem.consumer.internal.retention;

import dev.idem.consumer.IdemConfig;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The start-up check of a consumer's processed-mark retention against its topics' retention: asks
 * the brokers ({@link TopicRetentionReader}) and acts on the decision ({@link
 * TopicRetentionCheck}).
 */
public final class TopicRetentionGuard {
  private static final Logger log = LoggerFactory.getLogger(TopicRetentionGuard.class);
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final IdemConfig config;
  private final TopicRetentionReader reader;
  private final TopicRetentionCheck check;
  private final ScheduledExecutorService scheduler;

  /**
   * @param config the consumer's configuration
   * @param scheduler where the check runs
   */
  public TopicRetentionGuard(IdemConfig config, ScheduledExecutorService scheduler) {
    this.config = config;
    this.reader =
        new TopicRetentionReader(config.kafka(), "idem-" + config.consumerName() + "-admin");
    this.check =
        new TopicRetentionCheck(
            config.consumerName(), config.retentionWindow(), config.offsetStore(), false);
    this.scheduler = scheduler;
  }

  /**
   * Starts the check in the background; it logs a warning for every topic that outlives the marks.
   */
  public void start() {
    scheduler.execute(this::checkOnce);
  }

  private void checkOnce() {
    try {
      TopicRetentionReader.Reading reading = reader.read(config.topics(), TIMEOUT);
      check.judge(reading.topics()).forEach(f -> log.warn(f.message()));
    } catch (TopicRetentionReader.Unanswered e) {
      log.debug("could not read the retention of {}: {}", config.topics(), e.getMessage());
    }
  }
}
