package dev.idem.consumer.internal.retention;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a consumer's retention of processed marks: the singleton {@link RetentionJob} every {@code
 * consumer.retention.interval}, and the {@link TopicRetentionGuard} that refuses a topic which
 * outlives the marks. Both share one thread, which {@link #close()} stops.
 */
public final class RetentionSchedule implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RetentionSchedule.class);

  private final ScheduledExecutorService thread;

  private RetentionSchedule(ScheduledExecutorService thread) {
    this.thread = thread;
  }

  /**
   * Starts the retention of {@code config}'s consumer, or returns null (and logs why) when it is
   * off or has no dedicated connections for its singleton lock.
   *
   * @param lockConnections connections for the job's session lock, or null when there are none
   * @param onRefusal called when a topic turns out to outlive the marks after start
   * @throws IdemConfigException naming {@code consumer.retention.window} when a topic outlives the
   *     marks already at start
   */
  public static RetentionSchedule start(
      IdemConfig config,
      DataSource dataSource,
      ConnectionFactory lockConnections,
      MeterRegistry meterRegistry,
      Clock clock,
      ThreadFactory threads,
      Consumer<IdemConfigException> onRefusal) {
    String name = config.consumerName();
    if (config.retentionWindow() == null) {
      log.info("retention of processed marks is off for {}", name);
      return null;
    }
    if (lockConnections == null) {
      // No job, so marks are never deleted: nothing for the topic-retention check to refuse.
      log.warn(
          "retention of processed marks is off for {}: its singleton job needs dedicated"
              + " connections; pass lockConnections(ConnectionFactory) to the builder, or set"
              + " consumer.retention.window=off to silence this",
          name);
      return null;
    }
    ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(threads);
    RetentionSchedule schedule = new RetentionSchedule(thread);
    try {
      new TopicRetentionGuard(config, thread, onRefusal).start();
    } catch (RuntimeException e) {
      schedule.close();
      throw e;
    }
    AdvisoryLocks locks =
        AdvisoryLocks.builder(lockConnections)
            .meterRegistry(meterRegistry)
            .schema(config.schema())
            .clock(clock)
            .build();
    RetentionJob job =
        new RetentionJob(
            locks,
            dataSource,
            config.schema(),
            config.processedTable(),
            name,
            config.retentionWindow(),
            config.retentionBatchSize(),
            clock);
    long interval = config.retentionInterval().toMillis();
    thread.scheduleWithFixedDelay(
        () -> {
          try {
            job.runOnce();
          } catch (RuntimeException e) {
            log.warn("retention run of {} failed; next try in {} ms", name, interval, e);
          }
        },
        interval,
        interval,
        TimeUnit.MILLISECONDS);
    return schedule;
  }

  /** Stops the job and the guard. */
  @Override
  public void close() {
    thread.shutdownNow();
  }
}
