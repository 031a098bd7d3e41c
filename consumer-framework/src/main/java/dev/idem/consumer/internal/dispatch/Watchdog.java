package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.AttemptConnections;
import java.sql.Connection;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Gives up on runs whose transaction outlives its timeouts. The database side of a transaction is
 * bounded by {@code lock_timeout}, {@code statement_timeout} and {@code
 * idle_in_transaction_session_timeout} (on PostgreSQL 17+ {@code transaction_timeout}); the worker
 * thread is not: a handler blocked outside JDBC (a sleep, a latch, an HTTP call without a timeout)
 * would hold its thread and its dispatcher slot forever, and with concurrency 1 stop the instance.
 *
 * <p>Each run registers its thread here, and each of its transactions its connection ({@link
 * AttemptConnections}, keyed by thread). Once a transaction has been open for longer than
 * lock-timeout + handler-timeout + {@link #GRACE} (its server-side timeouts have fired by then),
 * the run is abandoned: under the dispatcher's lock its slot is freed and its lane waits for a
 * retry as after a failed attempt (so a record that hangs every time is dead-lettered once its
 * attempts are used up); then its connection is aborted and its thread interrupted, and the failure
 * is counted and logged with the record's coordinates and where the thread was. The executor gives
 * the next run a new thread; when the abandoned one returns, whatever it did is discarded.
 *
 * <p>At most {@code maxAbandoned} abandoned threads may still be alive. Past that an overdue run is
 * not abandoned (it keeps its slot, as before) and {@link #stuckWorkers()} exceeds {@link
 * #maxAbandoned()}: the consumer reports itself unhealthy until stuck threads end.
 *
 * <p>Why exactly-once holds: the abandoned transaction cannot commit. Its body cannot end while the
 * watchdog abandons it ({@link #closed} waits for the same monitor, and the commit comes after
 * {@code closed}), and once its connection is aborted the server rolls it back. Should a pool's
 * abort not end the session and the transaction commit after all, the retry takes the same advisory
 * lock after it and finds its processed mark: a duplicate, skipped.
 *
 * <p>The connection stays registered through the COMMIT (or ROLLBACK): a COMMIT whose reply never
 * comes (a pool without a socket timeout) is aborted like a hung body, and then whether it
 * committed is not known. Exactly-once holds all the same: the retry takes the event's advisory
 * lock and inserts the processed mark only where none exists, and a dead letter is written only for
 * an event without one; so a transaction that did commit makes the retry a duplicate.
 *
 * <p>After the transaction, the hook's after-completion work (Spring's after-commit callbacks) is
 * watched with the same limit, counted from the end of the transaction. A run stuck there is given
 * up without an abort: its thread is interrupted and replaced, and a committed run's records are
 * done ({@link HungAttemptException#afterCommit()}).
 */
public final class Watchdog implements AttemptConnections {
  private static final Logger log = LoggerFactory.getLogger(Watchdog.class);

  /** Time past lock-timeout + handler-timeout for the server's timeouts to end the transaction. */
  static final Duration GRACE = Duration.ofSeconds(1);

  private static final Duration LONGEST_CHECK_INTERVAL = Duration.ofSeconds(1);
  private static final Duration SHORTEST_CHECK_INTERVAL = Duration.ofMillis(10);
  private static final int STACK_LINES = 12;

  private final String consumerName;
  private final Duration limit;
  private final int maxAbandoned;
  private final ConnectionAborter aborter;
  private final ConsumerMetrics metrics;
  private final Map<Thread, Attempt> attempts = new ConcurrentHashMap<>();
  private final AtomicInteger abandonedAlive = new AtomicInteger();

  /**
   * @param consumerName for the logs
   * @param lockTimeout the consumer's lock timeout
   * @param handlerTimeout the consumer's handler timeout
   * @param maxAbandoned the most abandoned threads that may still be alive
   * @param aborter ends the connection of an abandoned transaction
   * @param metrics where abandoned runs and their failures are counted
   */
  public Watchdog(
      String consumerName,
      Duration lockTimeout,
      Duration handlerTimeout,
      int maxAbandoned,
      ConnectionAborter aborter,
      ConsumerMetrics metrics) {
    this.consumerName = consumerName;
    this.limit = lockTimeout.plus(handlerTimeout).plus(GRACE);
    this.maxAbandoned = maxAbandoned;
    this.aborter = aborter;
    this.metrics = metrics;
  }

  /**
   * Checks the running transactions on {@code timer} about every second, or every quarter of the
   * handler timeout when that is shorter.
   */
  public void start(ScheduledExecutorService timer, Duration handlerTimeout) {
    Duration interval = handlerTimeout.dividedBy(4);
    if (interval.compareTo(LONGEST_CHECK_INTERVAL) > 0) {
      interval = LONGEST_CHECK_INTERVAL;
    }
    if (interval.compareTo(SHORTEST_CHECK_INTERVAL) < 0) {
      interval = SHORTEST_CHECK_INTERVAL;
    }
    timer.scheduleWithFixedDelay(
        this::checkQuietly, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The most abandoned threads that may still be alive. */
  public int maxAbandoned() {
    return maxAbandoned;
  }

  /**
   * Worker threads stuck past the limit: abandoned ones that have not returned yet, and overdue
   * ones not abandoned (yet, or at all because {@link #maxAbandoned()} abandoned ones are alive).
   * More than {@link #maxAbandoned()} means an overdue run holds its slot.
   */
  public int stuckWorkers() {
    long now = System.nanoTime();
    int n = 0;
    for (Attempt a : attempts.values()) {
      if (a.abandoned || a.overdue(now, limit)) {
        n++;
      }
    }
    return n;
  }

  /**
   * The current thread starts a run of {@code group}; {@code abandon} gives it up under the
   * caller's lock and returns false when the run ended meanwhile. It runs on the watchdog's thread
   * with the run's monitor held (its transaction cannot end meanwhile), so it must not block, run
   * user code or touch the database.
   */
  public Attempt started(List<Work> group, Predicate<HungAttemptException> abandon) {
    Attempt a = new Attempt(Thread.currentThread(), group, abandon);
    attempts.put(a.thread, a);
    return a;
  }

  /** The run of {@code a} returned (normally or not), on its own thread. */
  public void ended(Attempt a) {
    attempts.remove(a.thread, a);
    synchronized (a) {
      a.ended = true;
      if (a.abandoned) {
        abandonedAlive.decrementAndGet();
        // Our interrupt must not reach the next task the executor gives this thread.
        Thread.interrupted();
      }
    }
  }

  @Override
  public void opened(Connection c) {
    opened(c, null);
  }

  @Override
  public void opened(Connection c, String eventId) {
    register(c, eventId, 1);
  }

  @Override
  public void opened(Connection c, int records) {
    register(c, null, Math.max(1, records));
  }

  private void register(Connection c, String eventId, int records) {
    Attempt a = attempts.get(Thread.currentThread());
    if (a != null) {
      synchronized (a) {
        a.eventId = eventId;
        a.records = records;
        a.openedNanos = System.nanoTime();
        a.connection = c;
      }
    }
  }

  @Override
  public void closed(Connection c) {
    Attempt a = attempts.get(Thread.currentThread());
    if (a != null) {
      // Waits while the watchdog abandons this run, so that the commit after it fails. The
      // connection stays registered until the commit or rollback returns (completing): a COMMIT
      // whose reply never comes is aborted like a hung body.
      synchronized (a) {
        a.ending = true;
      }
    }
  }

  @Override
  public void completing(boolean committed) {
    Attempt a = attempts.get(Thread.currentThread());
    if (a != null) {
      synchronized (a) {
        a.connection = null;
        a.ending = false;
        a.committed = committed;
        a.completingNanos = System.nanoTime();
        a.completing = true;
      }
    }
  }

  @Override
  public void completed() {
    Attempt a = attempts.get(Thread.currentThread());
    if (a != null) {
      synchronized (a) {
        a.completing = false;
      }
    }
  }

  @Override
  public boolean abandoned() {
    Attempt a = attempts.get(Thread.currentThread());
    return a != null && a.abandoned;
  }

  private void checkQuietly() {
    try {
      check();
    } catch (RuntimeException e) {
      // Never let the timer stop: the next check may succeed.
      log.error("watchdog check of consumer {} failed", consumerName, e);
    }
  }

  /** Abandons the runs whose transaction is overdue, up to the cap. */
  void check() {
    long now = System.nanoTime();
    for (Attempt a : attempts.values()) {
      if (a.abandoned || !a.overdue(now, limit)) {
        continue;
      }
      if (abandonedAlive.get() >= maxAbandoned) {
        keep(a, now);
      } else {
        abandon(a, now);
      }
    }
  }

  private void abandon(Attempt a, long now) {
    StackTraceElement[] where = a.thread.getStackTrace();
    synchronized (a) {
      if (a.ended || a.abandoned) {
        return;
      }
      Connection c = a.connection;
      if (c == null) {
        if (a.completing && a.overdue(now, limit)) {
          abandonCompletion(a, now, where);
        }
        return; // its transaction ended meanwhile
      }
      HungAttemptException failure =
          new HungAttemptException(
              describe(a), a.eventId, Duration.ofNanos(now - a.openedNanos), a.limit(limit), where);
      withMdc(
          a,
          () -> {
            log.error(
                "{}: aborting its connection{} and interrupting {}; its lane goes on as after a"
                    + " failed attempt. The thread is at:{}",
                failure.getMessage(),
                a.ending
                    ? " during its COMMIT or ROLLBACK (whether it committed is not known: the"
                        + " retry finds the processed mark or not)"
                    : "",
                a.thread.getName(),
                stackTop(where));
            // The run cannot end while this monitor is held with its transaction open, so this
            // refuses only if the dispatcher ended it by other means (a fatal error).
            if (!a.abandon.test(failure)) {
              return;
            }
            a.abandoned = true;
            abandonedAlive.incrementAndGet();
            String topic = a.head().record.topic();
            metrics.failure(topic);
            metrics.abandonedWorker(topic);
            try {
              aborter.abort(c);
            } catch (Exception e) {
              log.warn(
                  "aborting the connection of {} failed; the server ends its transaction by its"
                      + " own timeouts",
                  a.thread.getName(),
                  e);
            }
            a.thread.interrupt();
          });
    }
  }

  /**
   * With the run's monitor held: its transaction ended, and the hook's after-completion work (an
   * after-commit callback) hung. Nothing can be aborted or rolled back: the run is given up (a
   * committed one counts as done, see {@link HungAttemptException#afterCommit()}) and its thread
   * interrupted and replaced. The attempt's failure, if it failed, was counted when it failed.
   */
  private void abandonCompletion(Attempt a, long now, StackTraceElement[] where) {
    HungAttemptException failure =
        HungAttemptException.afterCompletion(
            describe(a),
            a.eventId,
            a.committed,
            Duration.ofNanos(now - a.completingNanos),
            a.limit(limit),
            where);
    withMdc(
        a,
        () -> {
          log.error(
              "{}: interrupting {}; its lane goes on{}. The thread is at:{}",
              failure.getMessage(),
              a.thread.getName(),
              a.committed ? " (the transaction committed: its records are done)" : "",
              stackTop(where));
          if (!a.abandon.test(failure)) {
            return;
          }
          a.abandoned = true;
          abandonedAlive.incrementAndGet();
          metrics.abandonedWorker(a.head().record.topic());
          a.thread.interrupt();
        });
  }

  /** An overdue run that may not be abandoned: logged once, it keeps its slot. */
  private void keep(Attempt a, long now) {
    if (a.keptLogged) {
      return;
    }
    a.keptLogged = true;
    withMdc(
        a,
        () ->
            log.error(
                "{} ran {} ms in its transaction (or in the hook's after-completion work), over the"
                    + " limit of {} ms, but is not abandoned:"
                    + " {} abandoned workers are still alive (consumer.max-abandoned-workers); it"
                    + " keeps its slot and the consumer reports itself unhealthy. Thread {} is at:{}",
                describe(a),
                Duration.ofNanos(now - (a.connection != null ? a.openedNanos : a.completingNanos))
                    .toMillis(),
                a.limit(limit).toMillis(),
                abandonedAlive.get(),
                a.thread.getName(),
                stackTop(a.thread.getStackTrace())));
  }

  private static String describe(Attempt a) {
    Work head = a.head();
    boolean batch = a.group.size() > 1 && !head.fallback;
    String what = batch ? "a batch of " + a.group.size() + ", attempt " : "attempt ";
    String eventId = a.eventId != null ? a.eventId : head.eventId;
    return what
        + head.attempt
        + " at "
        + head.partition
        + "@"
        + head.record.offset()
        + (eventId == null ? "" : " (event id " + eventId + ")");
  }

  private void withMdc(Attempt a, Runnable logging) {
    Work head = a.head();
    String eventId = a.eventId != null ? a.eventId : head.eventId;
    MDC.put("idem.consumer", consumerName);
    MDC.put("idem.record", head.partition + "@" + head.record.offset());
    if (eventId != null) {
      MDC.put("idem.event_id", eventId);
    }
    try {
      logging.run();
    } finally {
      MDC.remove("idem.consumer");
      MDC.remove("idem.record");
      MDC.remove("idem.event_id");
    }
  }

  private static String stackTop(StackTraceElement[] where) {
    return Arrays.stream(where)
        .limit(STACK_LINES)
        .map(e -> "\n\tat " + e)
        .collect(Collectors.joining("", "", where.length > STACK_LINES ? "\n\t..." : ""));
  }

  /** One run on one thread, as the watchdog sees it. */
  public static final class Attempt {
    final Thread thread;
    final List<Work> group;
    final Predicate<HungAttemptException> abandon;

    /** The open transaction's connection until its COMMIT or ROLLBACK returns, else null. */
    volatile Connection connection;

    volatile long openedNanos;
    volatile String eventId;

    /** Whether the transaction's body ended and its COMMIT or ROLLBACK is under way. */
    volatile boolean ending;

    /** Whether the hook's after-completion work runs, the transaction having ended. */
    volatile boolean completing;

    volatile long completingNanos;

    /** Whether the transaction whose after-completion work runs committed. */
    volatile boolean committed;

    /** The records the open transaction applies one after the other (a grouped one: several). */
    volatile int records = 1;

    volatile boolean abandoned;
    boolean ended;
    boolean keptLogged;

    Attempt(Thread thread, List<Work> group, Predicate<HungAttemptException> abandon) {
      this.thread = thread;
      this.group = group;
      this.abandon = abandon;
    }

    /** The record the run is at: the first one not done yet (batch mode), else the head. */
    Work head() {
      for (Work w : group) {
        if (!w.done) {
          return w;
        }
      }
      return group.get(0);
    }

    boolean overdue(long now, Duration limit) {
      long bound = limit(limit).toNanos();
      return connection != null
          ? now - openedNanos > bound
          : completing && now - completingNanos > bound;
    }

    /** The limit of the open transaction: {@code limit} per record it applies. */
    Duration limit(Duration limit) {
      return limit.multipliedBy(records);
    }
  }
}
