package dev.idem.consumer.internal.health;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the consumer's database answers, checked in the background every {@link #INTERVAL} on a
 * thread of its own, so that a health endpoint polled on every request reads a cached answer: no
 * thread started and no connection borrowed per call, and a database that hangs cannot block the
 * caller. The probe borrows one pooled connection for a moment each interval (the pool holds two
 * beyond the workers' for such short uses).
 */
public final class DatabaseProbe implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DatabaseProbe.class);

  /** How often the database is asked. */
  public static final Duration INTERVAL = Duration.ofSeconds(2);

  /** How long one ask may take before the database counts as unreachable. */
  private static final int VALID_SECONDS = 2;

  private final String consumerName;
  private final DataSource dataSource;
  private final ScheduledExecutorService thread;

  /**
   * The last answer and the probe running now, published together: a reader never sees a probe's
   * end without its answer (read apart, the answer from before an outage showed for a moment after
   * the probe that found the database down had ended).
   */
  private volatile State state;

  /**
   * @param reachable the last probe's answer
   * @param runningSince when the probe running now began ({@link System#nanoTime()}), or 0 when
   *     none runs
   */
  private record State(boolean reachable, long runningSince) {}

  /**
   * A probe whose answer is "reachable" until its first run: it starts right after the start-up
   * check reached the server.
   *
   * @param thread a single-threaded scheduler the probe owns and shuts down on {@link #close()}
   */
  public DatabaseProbe(
      String consumerName, DataSource dataSource, ScheduledExecutorService thread) {
    this.consumerName = consumerName;
    this.dataSource = dataSource;
    this.state = new State(true, 0);
    this.thread = thread;
    thread.scheduleWithFixedDelay(
        this::probe, INTERVAL.toMillis(), INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * The last answer; false too while a probe has been waiting longer than it may (a pool that hands
   * out nothing, a server that does not answer): such a probe may never return.
   */
  public boolean reachable() {
    State s = state;
    if (s.runningSince() != 0
        && System.nanoTime() - s.runningSince() > TimeUnit.SECONDS.toNanos(VALID_SECONDS + 1)) {
      return false;
    }
    return s.reachable();
  }

  private void probe() {
    boolean before = state.reachable();
    state = new State(before, System.nanoTime());
    boolean now;
    try (Connection c = dataSource.getConnection()) {
      now = c.isValid(VALID_SECONDS);
    } catch (SQLException | RuntimeException e) {
      now = false;
    }
    state = new State(now, 0);
    if (now != before) {
      log.info("consumer {}: database {}", consumerName, now ? "reachable again" : "not reachable");
    }
  }

  @Override
  public void close() {
    thread.shutdownNow();
  }
}
