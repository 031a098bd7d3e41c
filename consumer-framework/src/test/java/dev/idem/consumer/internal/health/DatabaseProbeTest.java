package dev.idem.consumer.internal.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

class DatabaseProbeTest {

  /**
   * A probe that hangs is reported unreachable after three seconds; when it then fails, the answer
   * must stay unreachable. It showed the answer from before the outage for a moment (between the
   * end of its running mark and its new answer), long enough for a readiness check to see a ready
   * consumer while the database was down (OutageTest failed so under parallel test JVMs).
   */
  @Test
  void aProbeThatHangsThenFailsNeverShowsTheAnswerFromBeforeTheOutageAgain() throws Exception {
    CountDownLatch fail = new CountDownLatch(1);
    DataSource down =
        new NoDataSource() {
          @Override
          public Connection getConnection() throws SQLException {
            try {
              fail.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            throw new SQLException("the server is down", "08001");
          }
        };
    ManualScheduler scheduler = new ManualScheduler();
    DatabaseProbe probe = new DatabaseProbe("c", down, scheduler);
    try {
      Thread probing = new Thread(scheduler.task(), "probe");
      probing.start();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (probe.reachable() && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(probe.reachable()).as("a probe running for over three seconds").isFalse();

      AtomicInteger reachableAfterwards = new AtomicInteger();
      AtomicBoolean watching = new AtomicBoolean(true);
      Thread watcher =
          new Thread(
              () -> {
                while (watching.get()) {
                  if (probe.reachable()) {
                    reachableAfterwards.incrementAndGet();
                  }
                }
              },
              "watcher");
      watcher.start();
      fail.countDown();
      probing.join(5_000);
      watching.set(false);
      watcher.join(5_000);

      assertThat(probing.isAlive()).isFalse();
      assertThat(probe.reachable()).isFalse();
      assertThat(reachableAfterwards.get())
          .as("times the database showed reachable after the probe had found it was not")
          .isZero();
    } finally {
      probe.close();
    }
  }

  /** Keeps the probe's periodic task for the test to run, instead of running it every 2 s. */
  private static final class ManualScheduler extends ScheduledThreadPoolExecutor {
    private final AtomicReference<Runnable> task = new AtomicReference<>();

    ManualScheduler() {
      super(1);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(
        Runnable command, long initialDelay, long delay, TimeUnit unit) {
      task.set(command);
      return schedule(() -> {}, 1, TimeUnit.DAYS);
    }

    Runnable task() {
      return task.get();
    }
  }

  /** A data source whose methods other than {@code getConnection()} are not used. */
  private abstract static class NoDataSource implements DataSource {
    @Override
    public Connection getConnection(String user, String password) throws SQLException {
      return getConnection();
    }

    @Override
    public PrintWriter getLogWriter() {
      return null;
    }

    @Override
    public void setLogWriter(PrintWriter out) {}

    @Override
    public void setLoginTimeout(int seconds) {}

    @Override
    public int getLoginTimeout() {
      return 0;
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
      throw new SQLFeatureNotSupportedException();
    }

    @Override
    public <T> T unwrap(Class<T> type) throws SQLException {
      throw new SQLException("not a wrapper");
    }

    @Override
    public boolean isWrapperFor(Class<?> type) {
      return false;
    }
  }
}
