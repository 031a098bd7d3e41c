package dev.idem.consumer.internal.share;

import dev.idem.consumer.internal.dispatch.HungAttemptException;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.dispatch.Work;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The work of a share consumer's workers, as its poll thread schedules it: jobs waiting for a
 * worker, jobs waiting out a pause, at most {@code consumer.concurrency} runs at once, and the
 * queue through which runs (and the watchdog) hand their results to the poll thread. Every run
 * registers with the {@link Watchdog}; one it gives up is handed back as {@link Abandoned} and its
 * later answers are the poll thread's to drop. Everything but the runs themselves and {@link
 * Run#abandon} happens on the poll thread.
 */
final class ShareRuns {

  /** What a run or the watchdog hands the poll thread. */
  sealed interface Result permits Answered, RunEnded, Abandoned {}

  /** A record's answer from a run. */
  record Answered(Run run, ConsumerRecord<byte[], byte[]> record, ShareRecordTask.Answer answer)
      implements Result {}

  /** A run returned; {@code failure} is what escaped it (a fatal error, a defect), or null. */
  record RunEnded(Run run, Throwable failure) implements Result {}

  /** The watchdog gave a run up: its worker slot is free. */
  record Abandoned(Run run, HungAttemptException failure) implements Result {}

  /** What a run does with its records. */
  @FunctionalInterface
  interface Body {
    /**
     * Runs on a worker; stops, answering nothing more, once {@code abandoned} says so.
     *
     * @param works the records, the objects the watchdog flags when it gives the run up
     */
    void run(
        List<Work> works,
        BooleanSupplier abandoned,
        BiConsumer<ConsumerRecord<byte[], byte[]>, ShareRecordTask.Answer> answers);
  }

  private record Job(List<HeldRecord> records, Body body) {}

  private record Timed(long dueNanos, Job job) {}

  /** One run of a job on a worker. */
  final class Run {
    final List<HeldRecord> records;
    final List<Work> works;
    private boolean ended;
    private volatile boolean abandoned;

    /** Set on the poll thread once it has freed the run's slot (it ended, or was given up). */
    boolean freed;

    private Run(List<HeldRecord> records) {
      this.records = records;
      this.works = new ArrayList<>(records.size());
      for (HeldRecord h : records) {
        ConsumerRecord<byte[], byte[]> r = h.record;
        works.add(new Work(r, new TopicPartition(r.topic(), r.partition()), 0, null));
      }
    }

    /** Whether the watchdog gave this run up. */
    boolean abandoned() {
      return abandoned;
    }

    /** On the watchdog's thread, the run's transaction held open meanwhile. */
    private synchronized boolean abandon(HungAttemptException failure) {
      if (ended || abandoned) {
        return false;
      }
      abandoned = true;
      works.forEach(Work::abandon);
      results.add(new Abandoned(this, failure));
      return true;
    }

    private synchronized void end() {
      ended = true;
    }
  }

  private final ExecutorService workers;
  private final Watchdog watchdog;
  private final int concurrency;
  private final BlockingQueue<Result> results = new LinkedBlockingQueue<>();
  private final Deque<Job> jobs = new ArrayDeque<>();
  private final PriorityQueue<Timed> timers =
      new PriorityQueue<>(Comparator.comparingLong(Timed::dueNanos));
  private int running;

  ShareRuns(ExecutorService workers, Watchdog watchdog, int concurrency) {
    this.workers = workers;
    this.watchdog = watchdog;
    this.concurrency = concurrency;
  }

  /** Queues a job behind the others. */
  void add(List<HeldRecord> records, Body body) {
    jobs.add(new Job(records, body));
  }

  /** Queues a job ahead of the others (work left by a run the watchdog gave up). */
  void addFirst(List<HeldRecord> records, Body body) {
    jobs.addFirst(new Job(records, body));
  }

  /** Queues a job once {@code pause} has passed; it holds no worker meanwhile. */
  void after(Duration pause, List<HeldRecord> records, Body body) {
    timers.add(new Timed(System.nanoTime() + pause.toNanos(), new Job(records, body)));
  }

  /**
   * Starts the jobs whose pause is over and the waiting ones, up to {@code consumer.concurrency}
   * runs at once; a job's records that are no longer {@code live} (their delivery ended) are left
   * out, and a job left with none is dropped.
   */
  void start(Predicate<HeldRecord> live) {
    long now = System.nanoTime();
    while (!timers.isEmpty() && timers.peek().dueNanos() <= now) {
      jobs.add(timers.poll().job());
    }
    while (running < concurrency && !jobs.isEmpty()) {
      Job job = jobs.poll();
      List<HeldRecord> records = new ArrayList<>(job.records().size());
      for (HeldRecord h : job.records()) {
        if (live.test(h)) {
          records.add(h);
        }
      }
      if (!records.isEmpty()) {
        submit(records, job.body());
      }
    }
  }

  private void submit(List<HeldRecord> records, Body body) {
    Run run = new Run(records);
    records.forEach(h -> h.run = run);
    running++;
    workers.execute(
        () -> {
          Watchdog.Attempt attempt = watchdog.started(run.works, run::abandon);
          Throwable failure = null;
          try {
            body.run(run.works, run::abandoned, (r, a) -> results.add(new Answered(run, r, a)));
          } catch (Throwable t) {
            failure = t;
          } finally {
            watchdog.ended(attempt);
            run.end();
            results.add(new RunEnded(run, failure));
          }
        });
  }

  /** The run's slot is free again: it ended, or the watchdog gave it up. Once per run. */
  void free(Run run) {
    if (!run.freed) {
      run.freed = true;
      running--;
    }
  }

  /** When the next pause ends ({@link System#nanoTime()}), or {@link Long#MAX_VALUE}. */
  long nextDue() {
    return timers.isEmpty() ? Long.MAX_VALUE : timers.peek().dueNanos();
  }

  /** The next result, waiting up to {@code nanos}; null when none came. */
  Result next(long nanos) throws InterruptedException {
    return results.poll(Math.max(0, nanos), TimeUnit.NANOSECONDS);
  }

  /** The next result if one is there, else null. */
  Result next() {
    return results.poll();
  }
}
