package dev.idem.consumer.internal.dispatch;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs records on workers, one at a time per (topic-partition, ordering key) in offset order,
 * different keys concurrently, at most {@code concurrency} at once.
 *
 * <p>Each (partition, ordering key) has a lane: a queue whose head is the record running (or
 * waiting for its retry); the next record of the lane starts only after the head is done, so a
 * retrying record holds back only later records of its key. Lanes with work wait in a ready queue
 * for one of the {@code concurrency} slots; the executor only supplies threads, so an unbounded one
 * (virtual threads) is fine. The poll thread submits; workers hand finished records back as {@link
 * Completion}s. Records of a partition that was revoked (whose epoch is no longer current) are
 * dropped instead of run.
 *
 * <p>Every run registers with the {@link Watchdog}, which may abandon it when its transaction
 * hangs: the run's slot is freed and its lane goes on as after a failed attempt, with copies of its
 * records; the thread, when it returns, finds its run abandoned and its result is dropped. The
 * executor must therefore be able to give a thread while abandoned ones are still alive (a cached
 * pool, virtual threads); the concurrency bound still caps the runs.
 *
 * <p>Over 400 lines: the lanes, the ready queue and the slots are one state guarded by one monitor,
 * and every transition (submit, settle, drop, abandon, halt) must keep the same invariants; split
 * over classes they would share that monitor. {@code DispatcherTest} covers each transition.
 */
public final class Dispatcher {
  private static final Logger log = LoggerFactory.getLogger(Dispatcher.class);

  private final Executor executor;
  private final ScheduledExecutorService scheduler;
  private final GroupRunner runner;
  private final Watchdog watchdog;
  private final int concurrency;
  private final int groupSize;
  private final Queue<Completion> completions = new ConcurrentLinkedQueue<>();

  /** Notified when records leave flight while the poll thread waits for that. */
  private final Object released = new Object();

  private volatile boolean pollerWaiting;

  private final Object lock = new Object();
  private final Map<LaneKey, Lane> lanes = new HashMap<>();
  private final ArrayDeque<Lane> ready = new ArrayDeque<>();
  private final Map<TopicPartition, Long> epochs = new HashMap<>();
  private final Map<TopicPartition, Integer> perPartition = new HashMap<>();
  private int running;
  private int inFlight;
  private long inFlightBytes;
  private boolean halted;

  /**
   * @param executor supplies worker threads
   * @param scheduler schedules retries after their backoff
   * @param runner runs a lane's head group once; returns done (for the whole group) or a retry
   *     delay
   * @param watchdog watches the runs' transactions and abandons hung ones
   * @param concurrency the most groups running at once
   * @param groupSize the most records a lane hands to one run: 1 per record, more in batch mode
   */
  public Dispatcher(
      Executor executor,
      ScheduledExecutorService scheduler,
      GroupRunner runner,
      Watchdog watchdog,
      int concurrency,
      int groupSize) {
    this.executor = executor;
    this.scheduler = scheduler;
    this.runner = runner;
    this.watchdog = watchdog;
    this.concurrency = concurrency;
    this.groupSize = groupSize;
  }

  /** Makes records of {@code tp} under {@code epoch} runnable. */
  public void assigned(TopicPartition tp, long epoch) {
    synchronized (lock) {
      epochs.put(tp, epoch);
    }
  }

  /**
   * First step of a revoke: drops the queued records of these partitions and heads waiting for a
   * retry. Heads that are running finish, and their completions still count until {@link
   * #forget(Collection)}; one that fails is not retried (it is redelivered to the new owner).
   */
  public void drop(Collection<TopicPartition> tps) {
    synchronized (lock) {
      Iterator<Map.Entry<LaneKey, Lane>> it = lanes.entrySet().iterator();
      while (it.hasNext()) {
        Lane lane = it.next().getValue();
        if (!tps.contains(lane.key.partition)) {
          continue;
        }
        lane.queue.forEach(this::release);
        lane.queue.clear();
        if (lane.state == LaneState.RUNNING) {
          // Its retry would hold the revoke's drain for the backoff, and run a revoked record.
          lane.dropped = true;
        } else {
          lane.group.forEach(this::release);
          lane.group.clear();
          ready.remove(lane);
          lane.state = LaneState.GONE;
          it.remove();
        }
      }
    }
  }

  /**
   * Second step of a revoke (or all of a loss): records of these partitions are stale from now on;
   * a head still running finishes, but its completion is not reported.
   */
  public void forget(Collection<TopicPartition> tps) {
    synchronized (lock) {
      tps.forEach(epochs::remove);
    }
    drop(tps);
  }

  /** Starts no record from now on, as when the process dies; a record already running finishes. */
  public void halt() {
    synchronized (lock) {
      halted = true;
      ready.clear();
    }
  }

  /** Queues a record on its lane; an idle lane becomes ready. */
  public void submit(Work work) {
    synchronized (lock) {
      // A null ordering key means unordered: every such record gets a lane of its own.
      LaneKey key = new LaneKey(work.partition, work.orderingKey == null ? work : work.orderingKey);
      Lane lane = lanes.computeIfAbsent(key, Lane::new);
      lane.queue.add(work);
      inFlight++;
      inFlightBytes += work.bytes;
      perPartition.merge(work.partition, 1, Integer::sum);
      if (lane.state == LaneState.IDLE) {
        lane.state = LaneState.READY;
        ready.add(lane);
      }
    }
    startReady();
  }

  /** Starts ready lanes while slots are free. */
  private void startReady() {
    while (true) {
      Lane lane;
      synchronized (lock) {
        if (halted || running >= concurrency || ready.isEmpty()) {
          return;
        }
        lane = ready.poll();
        lane.state = LaneState.RUNNING;
        running++;
      }
      try {
        executor.execute(() -> runLanes(lane));
      } catch (RejectedExecutionException e) {
        // The executor shut down: the consumer is closing; the records will be redelivered.
        synchronized (lock) {
          running--;
          lane.state = LaneState.READY;
          ready.addFirst(lane);
        }
        return;
      }
    }
  }

  /**
   * Runs {@code first}'s head, then, on this same thread, the head of the next ready lane while a
   * slot is free for it: a worker that finishes a record goes on with the next one itself rather
   * than handing it to another thread (a wake-up and a park per record); further free slots go to
   * the executor as before.
   */
  private void runLanes(Lane first) {
    Lane lane = first;
    while (lane != null && runHead(lane)) {
      lane = claimReady();
      startReady();
    }
  }

  /** Takes the next ready lane and a slot for it, or null when there is none or no free slot. */
  private Lane claimReady() {
    synchronized (lock) {
      if (halted || running >= concurrency || ready.isEmpty()) {
        return null;
      }
      Lane lane = ready.poll();
      lane.state = LaneState.RUNNING;
      running++;
      return lane;
    }
  }

  /**
   * Runs a lane's head group once and settles it.
   *
   * @return false when this thread must not take more work: its run was abandoned by the watchdog
   */
  private boolean runHead(Lane lane) {
    List<Work> group;
    synchronized (lock) {
      if (lane.group.isEmpty()) {
        while (lane.group.size() < groupSize && !lane.queue.isEmpty()) {
          lane.group.add(lane.queue.poll());
        }
      }
      // Records of a revoked assignment are not run.
      lane.group.removeIf(
          w -> {
            boolean stale = !current(w);
            if (stale) {
              release(w);
            }
            return stale;
          });
      if (lane.group.isEmpty()) {
        finishRun(lane);
        group = null;
      } else {
        group = List.copyOf(lane.group);
      }
    }
    if (group == null) {
      return true;
    }
    Run run = new Run(lane, group);
    Watchdog.Attempt attempt = watchdog.started(group, failure -> abandon(run, failure));
    Step step;
    try {
      step = runner.apply(group);
    } catch (RuntimeException | Error e) {
      if (e instanceof VirtualMachineError && !(e instanceof StackOverflowError)) {
        synchronized (lock) {
          if (!run.abandoned) {
            run.ended = true;
            running--;
          }
        }
        throw e;
      }
      // The runner routes every failure; this is a bug in idem. Retry rather than lose the record.
      log.error("unexpected failure running {}; retrying in 1 s", group, e);
      step = Step.retryAfter(Duration.ofSeconds(1));
    } finally {
      watchdog.ended(attempt);
    }
    synchronized (lock) {
      if (run.abandoned) {
        // The watchdog gave this run up and freed its slot; the lane went on with copies of its
        // records. Nothing of what this thread did may complete a record or touch the lane.
        return false;
      }
      run.ended = true;
      settle(lane, group, step);
    }
    return true;
  }

  /**
   * Called by the watchdog (with the attempt's monitor held, so the run's transaction cannot end
   * meanwhile): gives the run up unless it already ended. Its slot is freed and its lane decides
   * what follows as after a failed attempt, with copies of its records.
   */
  private boolean abandon(Run run, HungAttemptException failure) {
    synchronized (lock) {
      if (run.ended || run.abandoned) {
        return false;
      }
      run.abandoned = true;
      List<Work> copies = new ArrayList<>(run.group.size());
      for (Work w : run.group) {
        w.abandoned = true;
        copies.add(new Work(w));
      }
      run.lane.group.clear();
      run.lane.group.addAll(copies);
      settle(run.lane, copies, afterAbandon(copies, failure));
    }
    // The slot is free: start the next lane, but not on the watchdog's thread, whatever executor.
    try {
      scheduler.execute(this::startReady);
    } catch (RejectedExecutionException e) {
      // Closing.
    }
    return true;
  }

  /**
   * What follows an abandoned run. One whose transaction committed before its after-commit work
   * hung is not a failed attempt: the commit is durable, so a lone record is done (its offset may
   * move; only the after-commit effect is at stake, at least once or never, like any after-commit
   * effect). A group runs again at once with its attempts unchanged: what committed is found
   * processed and skipped as a duplicate, the rest runs.
   */
  private Step afterAbandon(List<Work> copies, HungAttemptException failure) {
    if (!failure.afterCommit()) {
      return runner.abandoned(copies, failure);
    }
    return copies.size() == 1 ? Step.DONE : Step.retryAfter(Duration.ZERO);
  }

  /** With the lock held: the run of {@code group} ended with {@code step}; frees its slot. */
  private void settle(Lane lane, List<Work> group, Step step) {
    if (step.done()) {
      for (Work w : group) {
        // The completion first: release wakes a poll thread waiting in awaitRelease, which must
        // find it (woken before it, the thread went back to a poll that returned nothing).
        if (current(w)) {
          completions.add(new Completion(w.partition, w.epoch, w.record.offset()));
        }
        release(w);
      }
      lane.group.clear();
      finishRun(lane);
    } else if (!current(group.get(0)) || lane.state == LaneState.GONE || lane.dropped) {
      group.forEach(this::release);
      lane.group.clear();
      finishRun(lane);
    } else {
      running--;
      lane.state = LaneState.WAITING;
      scheduleRetry(lane, group, step.retryAfter());
    }
  }

  /** With the lock held: the lane's run ended; it becomes ready, idle or gone. */
  private void finishRun(Lane lane) {
    running--;
    lane.dropped = false;
    if (lane.state == LaneState.GONE) {
      return;
    }
    if (lane.queue.isEmpty() && lane.group.isEmpty()) {
      lane.state = LaneState.IDLE;
      lanes.remove(lane.key, lane);
    } else {
      lane.state = LaneState.READY;
      ready.add(lane);
    }
  }

  private void scheduleRetry(Lane lane, List<Work> group, Duration delay) {
    scheduler.schedule(
        () -> {
          synchronized (lock) {
            if (lane.state != LaneState.WAITING || !lane.group.equals(group)) {
              return; // dropped by a revoke meanwhile
            }
            lane.state = LaneState.READY;
            ready.addFirst(lane);
          }
          startReady();
        },
        Math.max(0, delay.toNanos()),
        TimeUnit.NANOSECONDS);
  }

  private boolean current(Work w) {
    Long epoch = epochs.get(w.partition);
    return epoch != null && epoch == w.epoch;
  }

  private void release(Work w) {
    inFlight--;
    inFlightBytes -= w.bytes;
    perPartition.computeIfPresent(w.partition, (tp, n) -> n <= 1 ? null : n - 1);
    if (pollerWaiting) {
      synchronized (released) {
        released.notifyAll();
      }
    }
  }

  /**
   * For the poll thread while every assigned partition is paused for backpressure: waits until
   * records leave flight (a completion, or records dropped), at most {@code timeout}; returns at
   * once when completions are waiting already. So a partition resumes as soon as its running batch
   * commits, not when a poll that can return nothing times out.
   *
   * @throws InterruptedException when the poll thread is interrupted
   */
  public void awaitRelease(Duration timeout) throws InterruptedException {
    synchronized (released) {
      // Set before the check: a worker that releases after the check sees the flag and notifies.
      pollerWaiting = true;
      try {
        if (completions.isEmpty()) {
          released.wait(Math.max(1, timeout.toMillis()));
        }
      } finally {
        pollerWaiting = false;
      }
    }
  }

  /** Completed records since the last call, for the poll thread. */
  public Queue<Completion> completions() {
    return completions;
  }

  /** Records queued or running, over all partitions. */
  public int inFlight() {
    synchronized (lock) {
      return inFlight;
    }
  }

  /** Bytes of keys and values of the records queued or running. */
  public long inFlightBytes() {
    synchronized (lock) {
      return inFlightBytes;
    }
  }

  /** Records queued or running, per partition that has any. */
  public Map<TopicPartition, Integer> inFlightByPartition() {
    synchronized (lock) {
      return new HashMap<>(perPartition);
    }
  }

  /** Records queued or running of the given partitions. */
  public int inFlight(Set<TopicPartition> tps) {
    synchronized (lock) {
      int n = 0;
      for (TopicPartition tp : tps) {
        n += perPartition.getOrDefault(tp, 0);
      }
      return n;
    }
  }

  /** A description of the busiest lanes, for timeout and drain messages. */
  public String describe() {
    synchronized (lock) {
      StringBuilder sb = new StringBuilder();
      sb.append(inFlight)
          .append(" records in flight in ")
          .append(lanes.size())
          .append(" lanes, ")
          .append(running)
          .append(" running");
      int shown = 0;
      for (Lane lane : lanes.values()) {
        if (shown++ == 5) {
          sb.append("; ...");
          break;
        }
        Work head = lane.group.isEmpty() ? lane.queue.peek() : lane.group.get(0);
        sb.append("; ")
            .append(lane.key.partition)
            .append(" key ")
            .append(lane.key.orderingKey instanceof Work ? "(none)" : lane.key.orderingKey)
            .append(": ")
            .append(head == null ? "-" : head.toString())
            .append(" ")
            .append(lane.state.name().toLowerCase(Locale.ROOT))
            .append(", ")
            .append(lane.queue.size() + lane.group.size())
            .append(" queued");
      }
      return sb.toString();
    }
  }

  /** Worker threads stuck past their timeouts (see {@link Watchdog#stuckWorkers()}). */
  public int stuckWorkers() {
    return watchdog.stuckWorkers();
  }

  /** One run of a lane's group; its fields are guarded by the dispatcher's lock. */
  private static final class Run {
    final Lane lane;
    final List<Work> group;
    boolean ended;
    boolean abandoned;

    Run(Lane lane, List<Work> group) {
      this.lane = lane;
      this.group = group;
    }
  }

  private record LaneKey(TopicPartition partition, Object orderingKey) {
    LaneKey {
      Objects.requireNonNull(partition);
    }
  }

  private enum LaneState {
    IDLE,
    READY,
    RUNNING,
    WAITING,
    GONE
  }

  private static final class Lane {
    final LaneKey key;
    final ArrayDeque<Work> queue = new ArrayDeque<>();
    final List<Work> group = new ArrayList<>();
    LaneState state = LaneState.IDLE;

    /** Its partition was dropped while its run went on: the run's records are not retried. */
    boolean dropped;

    Lane(LaneKey key) {
      this.key = key;
    }
  }
}
