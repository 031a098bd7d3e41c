package dev.idem.consumer.internal.dispatch;

import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs records on workers, one at a time per (topic-partition, ordering key) in offset order,
 * different keys concurrently.
 *
 * <p>Each (partition, ordering key) has a lane: a queue whose head is the record running (or
 * waiting for its retry); the next record of the lane starts only after the head is done, so a
 * retrying record holds back only later records of its key. The poll thread submits; workers run
 * lanes and hand finished records back as {@link Completion}s. Records of a partition that was
 * revoked (whose epoch is no longer current) are dropped instead of run.
 */
public final class Dispatcher {
  private static final Logger log = LoggerFactory.getLogger(Dispatcher.class);

  private final Executor executor;
  private final ScheduledExecutorService scheduler;
  private final Function<Work, Step> runner;
  private final Queue<Completion> completions = new ConcurrentLinkedQueue<>();

  private final Object lock = new Object();
  private final Map<LaneKey, Lane> lanes = new HashMap<>();
  private final Map<TopicPartition, Long> epochs = new HashMap<>();
  private final Map<TopicPartition, Integer> perPartition = new HashMap<>();
  private int inFlight;
  private long inFlightBytes;
  private volatile boolean halted;

  /**
   * @param executor runs lanes; its threads bound the concurrency
   * @param scheduler schedules retries after their backoff
   * @param runner runs a lane's head once; returns done or a retry delay
   */
  public Dispatcher(
      Executor executor, ScheduledExecutorService scheduler, Function<Work, Step> runner) {
    this.executor = executor;
    this.scheduler = scheduler;
    this.runner = runner;
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
   * #forget(Collection)}.
   */
  public void drop(Collection<TopicPartition> tps) {
    synchronized (lock) {
      Iterator<Map.Entry<LaneKey, Lane>> it = lanes.entrySet().iterator();
      while (it.hasNext()) {
        Lane lane = it.next().getValue();
        if (!tps.contains(lane.key.partition)) {
          continue;
        }
        Work runningHead = lane.executing ? lane.queue.peek() : null;
        Iterator<Work> works = lane.queue.iterator();
        while (works.hasNext()) {
          Work w = works.next();
          if (w != runningHead) {
            works.remove();
            release(w);
          }
        }
        lane.waitingRetry = null;
        if (!lane.executing) {
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

  /** Queues a record on its lane, starting the lane when it was idle. */
  public void submit(Work work) {
    Lane start = null;
    synchronized (lock) {
      // A null ordering key means unordered: every such record gets a lane of its own.
      LaneKey key = new LaneKey(work.partition, work.orderingKey == null ? work : work.orderingKey);
      Lane lane = lanes.computeIfAbsent(key, Lane::new);
      lane.queue.add(work);
      inFlight++;
      inFlightBytes += work.bytes;
      perPartition.merge(work.partition, 1, Integer::sum);
      if (!lane.executing && lane.waitingRetry == null && lane.queue.size() == 1) {
        lane.executing = true;
        start = lane;
      }
    }
    if (start != null) {
      schedule(start);
    }
  }

  private void schedule(Lane lane) {
    try {
      executor.execute(() -> runHead(lane));
    } catch (RejectedExecutionException e) {
      // The executor shut down: the consumer is closing, the record will be redelivered.
      synchronized (lock) {
        lane.executing = false;
      }
    }
  }

  /** Starts no record from now on, as when the process dies; a record already running finishes. */
  public void halt() {
    halted = true;
  }

  private void runHead(Lane lane) {
    if (halted) {
      return;
    }
    Work head;
    synchronized (lock) {
      head = lane.queue.peek();
      if (head == null) {
        lane.executing = false;
        removeIfIdle(lane);
        return;
      }
      if (!current(head)) {
        dropHeadAndContinue(lane);
        return;
      }
    }
    Step step;
    try {
      step = runner.apply(head);
    } catch (RuntimeException e) {
      // The runner routes every failure; this is a bug in idem. Retry rather than lose the record.
      log.error("unexpected failure running {}; retrying in 1 s", head, e);
      step = Step.retryAfter(java.time.Duration.ofSeconds(1));
    }
    if (step.done()) {
      completeHead(lane, head);
    } else {
      retryLater(lane, head, step);
    }
  }

  private void retryLater(Lane lane, Work head, Step step) {
    synchronized (lock) {
      lane.executing = false;
      if (!current(head)) {
        dropHeadAndContinue(lane);
        return;
      }
      lane.waitingRetry = head;
    }
    scheduler.schedule(
        () -> {
          synchronized (lock) {
            if (lane.waitingRetry != head) {
              return; // dropped by a revoke meanwhile
            }
            lane.waitingRetry = null;
            lane.executing = true;
          }
          schedule(lane);
        },
        Math.max(0, step.retryAfter().toNanos()),
        TimeUnit.NANOSECONDS);
  }

  private void completeHead(Lane lane, Work head) {
    boolean next;
    synchronized (lock) {
      lane.queue.poll();
      release(head);
      if (current(head)) {
        completions.add(new Completion(head.partition, head.epoch, head.record.offset()));
      }
      next = !lane.queue.isEmpty();
      lane.executing = next;
      if (!next) {
        removeIfIdle(lane);
      }
    }
    if (next) {
      schedule(lane);
    }
  }

  /** Called with the lock held: the head is stale; drop it and move on. */
  private void dropHeadAndContinue(Lane lane) {
    Work stale = lane.queue.poll();
    if (stale != null) {
      release(stale);
    }
    boolean next = !lane.queue.isEmpty();
    lane.executing = next;
    if (next) {
      try {
        executor.execute(() -> runHead(lane));
      } catch (RejectedExecutionException e) {
        lane.executing = false;
      }
    } else {
      removeIfIdle(lane);
    }
  }

  private void removeIfIdle(Lane lane) {
    if (lane.queue.isEmpty() && !lane.executing && lane.waitingRetry == null) {
      lanes.remove(lane.key, lane);
    }
  }

  private boolean current(Work w) {
    Long epoch = epochs.get(w.partition);
    return epoch != null && epoch == w.epoch;
  }

  private void release(Work w) {
    inFlight--;
    inFlightBytes -= w.bytes;
    perPartition.computeIfPresent(w.partition, (tp, n) -> n <= 1 ? null : n - 1);
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

  /** A description of the waiting lanes, for timeout messages. */
  public String describe() {
    synchronized (lock) {
      StringBuilder sb = new StringBuilder();
      sb.append(inFlight).append(" records in flight in ").append(lanes.size()).append(" lanes");
      int shown = 0;
      for (Lane lane : lanes.values()) {
        if (shown++ == 5) {
          sb.append(", ...");
          break;
        }
        Work head = lane.queue.peek();
        sb.append("; ")
            .append(lane.key.partition)
            .append(" key ")
            .append(lane.key.orderingKey)
            .append(": ")
            .append(head == null ? "-" : head.toString())
            .append(lane.waitingRetry != null ? " (waiting to retry)" : "")
            .append(", ")
            .append(lane.queue.size())
            .append(" queued");
      }
      return sb.toString();
    }
  }

  private record LaneKey(TopicPartition partition, Object orderingKey) {
    LaneKey {
      Objects.requireNonNull(partition);
    }
  }

  private static final class Lane {
    final LaneKey key;
    final ArrayDeque<Work> queue = new ArrayDeque<>();
    boolean executing;
    Work waitingRetry;

    Lane(LaneKey key) {
      this.key = key;
    }
  }
}
