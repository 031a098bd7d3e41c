package dev.idem.consumer.internal.runtime;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.health.DatabaseProbe;
import dev.idem.consumer.internal.retention.RetentionSchedule;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a started runtime opened, registered as it opens them, and released by {@link #release()} in
 * one order for both consumer kinds: the database probe and the client's meters, the watchdog's
 * timer, the workers (waited for, up to ten seconds, so that no transaction of theirs outlives the
 * pool), the retry scheduler, a share group's settings reader, the retention job, the dead-letter
 * producer, the stored offsets, the pool idem opened, and last the static-membership guard (the
 * Kafka client is closed by then, so a successor cannot overlap with this instance). Each is
 * released at most once; what was not opened is skipped.
 */
public final class Resources {
  private static final Logger log = LoggerFactory.getLogger(Resources.class);

  private HikariDataSource ownedPool;
  private DatabaseProbe probe;
  private volatile AutoCloseable clientMetrics;
  private ScheduledExecutorService watchdogTimer;
  private ExecutorService workers;
  private ScheduledExecutorService retryScheduler;
  private RetentionSchedule retention;
  private DeadLetterPublisher deadLetters;
  private AutoCloseable storedOffsets;
  private AutoCloseable instanceGuard;
  private AutoCloseable groupSettings;

  /** The pool idem opened from {@code pg.*}. */
  public HikariDataSource ownedPool(HikariDataSource pool) {
    this.ownedPool = pool;
    return pool;
  }

  /** The pool idem opened from {@code pg.*}, or null when it was given one. */
  public HikariDataSource ownedPool() {
    return ownedPool;
  }

  /** The background database probe. */
  public DatabaseProbe probe(DatabaseProbe probe) {
    this.probe = probe;
    return probe;
  }

  /** The binding of the Kafka client's meters; set on the poll thread. */
  public void clientMetrics(AutoCloseable metrics) {
    this.clientMetrics = metrics;
  }

  /** The watchdog's timer. */
  public ScheduledExecutorService watchdogTimer(ScheduledExecutorService timer) {
    this.watchdogTimer = timer;
    return timer;
  }

  /** The worker threads the consumer owns (not an executor the application gave). */
  public ExecutorService workers(ExecutorService workers) {
    this.workers = workers;
    return workers;
  }

  /** The scheduler of retries. */
  public ScheduledExecutorService retryScheduler(ScheduledExecutorService scheduler) {
    this.retryScheduler = scheduler;
    return scheduler;
  }

  /** The retention job. */
  public RetentionSchedule retention(RetentionSchedule retention) {
    this.retention = retention;
    return retention;
  }

  /** The publisher of dead letters to a topic. */
  public DeadLetterPublisher deadLetters(DeadLetterPublisher deadLetters) {
    this.deadLetters = deadLetters;
    return deadLetters;
  }

  /** The offsets kept in PostgreSQL. */
  public <C extends AutoCloseable> C storedOffsets(C offsets) {
    this.storedOffsets = offsets;
    return offsets;
  }

  /** The guard of a static member's instance id. */
  public <C extends AutoCloseable> C instanceGuard(C guard) {
    this.instanceGuard = guard;
    return guard;
  }

  /** A share group's settings, read while the consumer runs through an admin client. */
  public <C extends AutoCloseable> C groupSettings(C settings) {
    this.groupSettings = settings;
    return settings;
  }

  /** Releases everything registered, in the order of the class description. */
  public void release() {
    if (probe != null) {
      probe.close();
    }
    closeQuietly(clientMetrics);
    if (watchdogTimer != null) {
      watchdogTimer.shutdownNow();
    }
    if (workers != null) {
      workers.shutdownNow();
      try {
        workers.awaitTermination(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (retryScheduler != null) {
      retryScheduler.shutdownNow();
    }
    closeQuietly(groupSettings);
    if (retention != null) {
      retention.close();
    }
    if (deadLetters != null) {
      deadLetters.close();
    }
    closeQuietly(storedOffsets);
    if (ownedPool != null) {
      ownedPool.close();
    }
    closeQuietly(instanceGuard);
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception e) {
      log.warn("closing {} failed", c, e);
    }
  }
}
