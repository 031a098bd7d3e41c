package dev.idem.consumer.internal.dispatch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The lane logic of {@link Dispatcher}, on real threads and a scripted {@link GroupRunner}: no
 * Kafka and no database are involved, so a fake runner is enough. Runs block on latches the test
 * opens; every wait is a condition with a deadline.
 */
class DispatcherTest {
  private static final Duration WAIT = Duration.ofSeconds(5);
  private static final TopicPartition P0 = new TopicPartition("orders", 0);
  private static final TopicPartition P1 = new TopicPartition("orders", 1);

  private final ExecutorService workers = Executors.newCachedThreadPool();
  private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(1);
  private final ScriptedRunner runner = new ScriptedRunner();
  private final List<Connection> aborted = new CopyOnWriteArrayList<>();

  @AfterEach
  void stopThreads() throws InterruptedException {
    runner.openAllGates();
    workers.shutdownNow();
    scheduler.shutdownNow();
    assertThat(workers.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void recordsWithTheSameKeyRunOneAtATimeInOffsetOrder() {
    Dispatcher d = dispatcher(4);
    for (long offset = 0; offset < 30; offset++) {
      d.submit(work(P0, offset, "account-1"));
    }

    awaitCompleted(d, 30);
    assertThat(runner.startedOffsets()).containsExactlyElementsOf(range(0, 30));
    assertThat(runner.mostAtOnce("account-1")).isEqualTo(1);
    assertThat(d.inFlight()).isZero();
  }

  @Test
  void recordsWithDifferentKeysRunConcurrently() {
    Dispatcher d = dispatcher(3);
    runner.gate(0);
    runner.gate(1);
    runner.gate(2);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "b"));
    d.submit(work(P0, 2, "c"));

    waiting().until(() -> runner.running() == 3);
    runner.openAllGates();
    awaitCompleted(d, 3);
  }

  @Test
  void theSameKeyInDifferentPartitionsRunsConcurrently() {
    Dispatcher d = dispatcher(2);
    runner.gate(0);
    runner.gate(1);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P1, 1, "a"));

    waiting().until(() -> runner.running() == 2);
  }

  @Test
  void recordsWithoutAnOrderingKeyRunConcurrentlyInOnePartition() {
    Dispatcher d = dispatcher(2);
    runner.gate(0);
    runner.gate(1);
    d.submit(work(P0, 0, null));
    d.submit(work(P0, 1, null));

    waiting().until(() -> runner.running() == 2);
  }

  @Test
  void noMoreThanConcurrencyRunsAtOnceAndAFreedSlotStartsTheNextLane() {
    Dispatcher d = dispatcher(2);
    for (long offset = 0; offset < 5; offset++) {
      runner.gate(offset);
      d.submit(work(P0, offset, "key-" + offset));
    }

    waiting().until(() -> runner.running() == 2);
    waiting().during(Duration.ofMillis(200)).until(() -> runner.started() == 2);
    runner.open(runner.startedOffsets().get(0));
    waiting().until(() -> runner.started() == 3);
    assertThat(runner.running()).isEqualTo(2);
    runner.openAllGates();
    awaitCompleted(d, 5);
  }

  @Test
  void aRetryingRecordHoldsBackOnlyTheLaterRecordsOfItsKey() {
    Dispatcher d = dispatcher(2);
    runner.retryOnce(0, Duration.ofMillis(300));
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "a"));
    d.submit(work(P0, 2, "b"));

    awaitCompleted(d, 3);
    // Offset 2 (another key) is not held back by the retry of offset 0; offset 1 (its key) is.
    assertThat(completedOffsets(d)).containsExactly(2L, 0L, 1L);
    List<Long> started = runner.startedOffsets();
    assertThat(started).hasSize(4).endsWith(0L, 1L);
  }

  @Test
  void aGroupRunsUpToGroupSizeRecordsOfItsLaneAtOnceInOffsetOrder() {
    Dispatcher d = dispatcher(1, 3);
    runner.gate(0);
    d.submit(work(P0, 0, "a"));
    waiting().until(() -> runner.running() == 1);
    for (long offset = 1; offset < 6; offset++) {
      d.submit(work(P0, offset, "a"));
    }
    runner.open(0);

    awaitCompleted(d, 6);
    assertThat(runner.groups()).containsExactly(List.of(0L), List.of(1L, 2L, 3L), List.of(4L, 5L));
  }

  @Test
  void aWorkerThatFinishesARecordGoesOnWithTheNextReadyOneWithoutAnotherTask() {
    AtomicInteger tasks = new AtomicInteger();
    java.util.concurrent.Executor counting =
        task -> {
          tasks.incrementAndGet();
          workers.execute(task);
        };
    Dispatcher d = new Dispatcher(counting, scheduler, runner, watchdog(Duration.ofHours(1)), 1, 1);
    d.assigned(P0, 1);
    runner.gate(0);
    for (long offset = 0; offset < 10; offset++) {
      d.submit(work(P0, offset, "key-" + offset)); // ten lanes, one slot
    }
    waiting().until(() -> runner.running() == 1);
    runner.open(0);

    awaitCompleted(d, 10);
    assertThat(runner.startedOffsets()).containsExactlyElementsOf(range(0, 10));
    assertThat(tasks.get()).as("one task ran all ten records, one after the other").isEqualTo(1);
  }

  @Test
  void thePollThreadWaitingForRecordsToLeaveFlightWakesWhenOneCompletesNotAtItsTimeout()
      throws Exception {
    Dispatcher d = dispatcher(1);
    runner.gate(0);
    d.submit(work(P0, 0, "a"));
    waiting().until(() -> runner.running() == 1);
    CountDownLatch woke = new CountDownLatch(1);
    long[] waitedNanos = new long[1];
    Thread poller =
        new Thread(
            () -> {
              long start = System.nanoTime();
              try {
                d.awaitRelease(Duration.ofSeconds(30));
              } catch (InterruptedException e) {
                return;
              }
              waitedNanos[0] = System.nanoTime() - start;
              woke.countDown();
            });
    poller.start();
    // The poller is waiting (the record is still running); completing the record wakes it.
    assertThat(woke.await(300, TimeUnit.MILLISECONDS)).as("still waiting while it runs").isFalse();
    runner.open(0);
    assertThat(woke.await(5, TimeUnit.SECONDS)).as("woken by the completion").isTrue();
    assertThat(Duration.ofNanos(waitedNanos[0])).isLessThan(Duration.ofSeconds(30));
    assertThat(d.completions()).hasSize(1);

    // With a completion waiting already it returns at once.
    long start = System.nanoTime();
    d.awaitRelease(Duration.ofSeconds(30));
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
  }

  @Test
  void inFlightCountsQueuedAndRunningRecordsPerPartitionWithTheirBytes() {
    Dispatcher d = dispatcher(1);
    runner.gate(0);
    d.submit(work(P0, 0, "a", 10, 100));
    d.submit(work(P0, 1, "a", 10, 100));
    d.submit(work(P0, 2, "b", 10, 100));
    d.submit(work(P1, 3, "a", 5, 45));
    d.submit(work(P1, 4, "a", 5, 45));
    waiting().until(() -> runner.running() == 1);

    // PollLoop pauses the whole consumer and single partitions from these numbers.
    assertThat(d.inFlight()).isEqualTo(5);
    assertThat(d.inFlightBytes()).isEqualTo(3 * 110 + 2 * 50);
    assertThat(d.inFlightByPartition()).isEqualTo(Map.of(P0, 3, P1, 2));
    assertThat(d.inFlight(Set.of(P1))).isEqualTo(2);

    runner.openAllGates();
    awaitCompleted(d, 5);
    assertThat(d.inFlight()).isZero();
    assertThat(d.inFlightBytes()).isZero();
    assertThat(d.inFlightByPartition()).isEmpty();
  }

  @Test
  void dropDiscardsTheQueuedRecordsOfRevokedPartitionsAndLetsTheRunningHeadFinish() {
    Dispatcher d = dispatcher(3);
    runner.gate(0);
    runner.gate(3);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "a"));
    d.submit(work(P0, 2, "b"));
    d.submit(work(P1, 3, "a"));
    d.submit(work(P1, 4, "a"));
    waiting().until(() -> completedOffsets(d).contains(2L) && runner.running() == 2);

    d.drop(Set.of(P0));
    assertThat(d.inFlight(Set.of(P0))).isEqualTo(1);
    assertThat(d.inFlight(Set.of(P1))).isEqualTo(2);
    runner.openAllGates();

    // The head finished within the drain and still completes: its epoch is current until forget.
    waiting().until(() -> d.inFlight() == 0);
    assertThat(runner.startedOffsets()).doesNotContain(1L);
    assertThat(completedOffsets(d)).containsExactlyInAnyOrder(0L, 2L, 3L, 4L);
  }

  @Test
  void dropDiscardsAHeadWaitingForItsRetry() {
    Dispatcher d = dispatcher(1);
    runner.retryOnce(0, Duration.ofMillis(100));
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "a"));
    waiting().until(() -> runner.started() == 1 && runner.running() == 0);

    d.drop(Set.of(P0));

    assertThat(d.inFlight()).isZero();
    waiting()
        .during(Duration.ofMillis(300))
        .untilAsserted(
            () -> {
              assertThat(runner.startedOffsets()).containsExactly(0L);
              assertThat(completedOffsets(d)).isEmpty();
            });
  }

  @Test
  void aHeadThatFailsAfterItsPartitionWasDroppedIsNotRetried() {
    Dispatcher d = dispatcher(1);
    runner.gate(0);
    runner.retryOnce(0, Duration.ofMillis(100));
    d.submit(work(P0, 0, "a"));
    waiting().until(() -> runner.running() == 1);

    d.drop(Set.of(P0));
    runner.open(0);

    // The revoke waits for in-flight records: a retry scheduled now would hold it for the delay.
    waiting().until(() -> d.inFlight() == 0);
    waiting()
        .during(Duration.ofMillis(300))
        .untilAsserted(
            () -> {
              assertThat(runner.startedOffsets()).containsExactly(0L);
              assertThat(completedOffsets(d)).isEmpty();
            });
  }

  @Test
  void aRunningHeadOfAForgottenPartitionFinishesWithoutReportingItsCompletion() {
    Dispatcher d = dispatcher(1);
    runner.gate(0);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "a"));
    waiting().until(() -> runner.running() == 1);

    d.forget(Set.of(P0));
    runner.open(0);

    waiting().until(() -> runner.running() == 0 && d.inFlight() == 0);
    assertThat(d.completions()).isEmpty();
    assertThat(runner.startedOffsets()).containsExactly(0L);
  }

  @Test
  void recordsOfAnEarlierAssignmentAreNotRunAfterTheirPartitionIsReassigned() {
    Dispatcher d = dispatcher(1);
    d.assigned(P0, 2);
    d.submit(new Work(record(P0, 0, 1, 1), P0, 1, "a"));
    d.submit(new Work(record(P0, 1, 1, 1), P0, 2, "a"));

    awaitCompleted(d, 1);
    assertThat(runner.startedOffsets()).containsExactly(1L);
    assertThat(d.inFlight()).isZero();
  }

  @Test
  void haltStartsNoRecordButLetsTheRunningOneFinish() {
    Dispatcher d = dispatcher(1);
    runner.gate(0);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "b"));
    waiting().until(() -> runner.running() == 1);

    d.halt();
    d.submit(work(P0, 2, "c"));
    runner.open(0);

    waiting().until(() -> completedOffsets(d).contains(0L));
    waiting().during(Duration.ofMillis(200)).until(() -> runner.started() == 1);
    assertThat(d.inFlight()).isEqualTo(2);
  }

  @Test
  void aClosedExecutorLeavesRecordsQueuedForRedeliveryInsteadOfThrowing() {
    ExecutorService closed = Executors.newSingleThreadExecutor();
    closed.shutdown();
    Dispatcher d = new Dispatcher(closed, scheduler, runner, watchdog(Duration.ofHours(1)), 2, 1);
    d.assigned(P0, 1);

    d.submit(work(P0, 0, "a"));

    assertThat(runner.started()).isZero();
    assertThat(d.inFlight()).isEqualTo(1);
    assertThat(d.completions()).isEmpty();
  }

  @Test
  void aRunnerFailureIsRetriedRatherThanLosingTheRecord() {
    Dispatcher d = dispatcher(1);
    runner.throwOnce(0);
    d.submit(work(P0, 0, "a"));

    awaitCompleted(d, 1);
    assertThat(runner.startedOffsets()).containsExactly(0L, 0L);
  }

  @Test
  void anAbandonedRunFreesItsSlotAndItsLaneGoesOnWithCopiesWhoseResultAloneCounts() {
    // Zero timeouts: the watchdog abandons a transaction open for longer than its grace of 1 s.
    Watchdog watchdog = watchdog(Duration.ZERO);
    Dispatcher d = new Dispatcher(workers, scheduler, runner, watchdog, 1, 1);
    d.assigned(P0, 1);
    Connection connection = fakeConnection();
    runner.hangFirstAttempt(0, watchdog, connection);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "b"));
    waiting().until(() -> runner.running() == 1);

    waiting()
        .until(
            () -> {
              watchdog.check();
              return !aborted.isEmpty();
            });

    // The hung thread returns "done" once interrupted; only the copy's run may complete offset 0.
    awaitCompleted(d, 2);
    assertThat(aborted).containsExactly(connection);
    assertThat(runner.abandonedGroups()).containsExactly(List.of(0L));
    assertThat(runner.startedOffsets()).containsExactlyInAnyOrder(0L, 1L, 0L);
    assertThat(runner.attemptsSeen(0)).containsExactly(1, 2);
    waiting().until(() -> watchdog.stuckWorkers() == 0);
    assertThat(d.completions()).isEmpty();
  }

  @Test
  void aCommitWhoseReplyNeverComesIsAbortedAndItsLaneGoesOnAsAfterAFailedAttempt() {
    // Zero timeouts: the watchdog abandons a transaction open for longer than its grace of 1 s.
    Watchdog watchdog = watchdog(Duration.ZERO);
    Dispatcher d = new Dispatcher(workers, scheduler, runner, watchdog, 1, 1);
    d.assigned(P0, 1);
    Connection connection = fakeConnection();
    runner.hangInCommit(0, watchdog, connection);
    d.submit(work(P0, 0, "a"));
    waiting().until(() -> runner.running() == 1);

    waiting()
        .until(
            () -> {
              watchdog.check();
              return !aborted.isEmpty();
            });

    // The outcome of the COMMIT is unknown: the retry takes the lock and finds the mark or not.
    awaitCompleted(d, 1);
    assertThat(aborted).containsExactly(connection);
    assertThat(runner.abandonedGroups()).containsExactly(List.of(0L));
    assertThat(runner.attemptsSeen(0)).containsExactly(1, 2);
    waiting().until(() -> watchdog.stuckWorkers() == 0);
  }

  @Test
  void aRunAbandonedInItsAfterCommitWorkCountsAsDoneWithoutARetry() {
    // Zero timeouts: the watchdog gives up after-commit work running for longer than 1 s.
    Watchdog watchdog = watchdog(Duration.ZERO);
    Dispatcher d = new Dispatcher(workers, scheduler, runner, watchdog, 1, 1);
    d.assigned(P0, 1);
    CountDownLatch release = new CountDownLatch(1);
    runner.hangAfterCommit(0, watchdog, fakeConnection(), release);
    d.submit(work(P0, 0, "a"));
    d.submit(work(P0, 1, "b"));
    waiting().until(() -> runner.running() == 1);

    waiting()
        .until(
            () -> {
              watchdog.check();
              return watchdog.stuckWorkers() == 1 && completedOffsets(d).contains(1L);
            });

    // Committed: offset 0 is done, not retried, not a failed attempt; nothing was aborted.
    assertThat(completedOffsets(d)).contains(0L);
    assertThat(runner.abandonedGroups()).isEmpty();
    assertThat(runner.startedOffsets()).containsExactly(0L, 1L);
    assertThat(aborted).isEmpty();
    release.countDown();
    waiting().until(() -> watchdog.stuckWorkers() == 0);
  }

  // ---- fixtures

  /** Polls often: the runs take microseconds, and some states (a lane waiting) last 100 ms. */
  private static ConditionFactory waiting() {
    return await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(5));
  }

  private Dispatcher dispatcher(int concurrency) {
    return dispatcher(concurrency, 1);
  }

  private Dispatcher dispatcher(int concurrency, int groupSize) {
    Dispatcher d =
        new Dispatcher(
            workers, scheduler, runner, watchdog(Duration.ofHours(1)), concurrency, groupSize);
    d.assigned(P0, 1);
    d.assigned(P1, 1);
    return d;
  }

  private Watchdog watchdog(Duration timeouts) {
    return new Watchdog(
        "dispatcher-test",
        timeouts,
        timeouts,
        4,
        aborted::add,
        new ConsumerMetrics(new SimpleMeterRegistry(), "dispatcher-test"));
  }

  private static Work work(TopicPartition tp, long offset, Object orderingKey) {
    return work(tp, offset, orderingKey, 1, 1);
  }

  private static Work work(
      TopicPartition tp, long offset, Object orderingKey, int keyBytes, int valueBytes) {
    return new Work(record(tp, offset, keyBytes, valueBytes), tp, 1, orderingKey);
  }

  private static ConsumerRecord<byte[], byte[]> record(
      TopicPartition tp, long offset, int keyBytes, int valueBytes) {
    return new ConsumerRecord<>(
        tp.topic(),
        tp.partition(),
        offset,
        0L,
        TimestampType.CREATE_TIME,
        keyBytes,
        valueBytes,
        new byte[keyBytes],
        new byte[valueBytes],
        new RecordHeaders(),
        Optional.empty());
  }

  private static Connection fakeConnection() {
    return (Connection)
        Proxy.newProxyInstance(
            DispatcherTest.class.getClassLoader(),
            new Class<?>[] {Connection.class},
            (proxy, method, args) -> {
              switch (method.getName()) {
                case "toString":
                  return "fake connection";
                case "equals":
                  return proxy == args[0];
                case "hashCode":
                  return System.identityHashCode(proxy);
                default:
                  break;
              }
              throw new UnsupportedOperationException(method.getName());
            });
  }

  /** Drains the dispatcher's completions into a list kept per dispatcher. */
  private final Map<Dispatcher, List<Long>> completed = new ConcurrentHashMap<>();

  private List<Long> completedOffsets(Dispatcher d) {
    List<Long> offsets = completed.computeIfAbsent(d, x -> new CopyOnWriteArrayList<>());
    Completion c;
    while ((c = d.completions().poll()) != null) {
      offsets.add(c.offset());
    }
    return offsets;
  }

  private void awaitCompleted(Dispatcher d, int records) {
    waiting().until(() -> completedOffsets(d).size() >= records);
    assertThat(completedOffsets(d)).hasSize(records).doesNotHaveDuplicates();
  }

  private static List<Long> range(long from, long to) {
    List<Long> offsets = new ArrayList<>();
    for (long o = from; o < to; o++) {
      offsets.add(o);
    }
    return offsets;
  }

  /**
   * A runner whose behaviour per offset is scripted: block at a gate, ask for one retry, throw
   * once, or hang until interrupted. It records what started, in which groups, and how many runs of
   * each ordering key overlapped.
   */
  private static final class ScriptedRunner implements GroupRunner {
    private final Map<Long, CountDownLatch> gates = new ConcurrentHashMap<>();
    private final Map<Long, Duration> retries = new ConcurrentHashMap<>();
    private final Set<Long> throwing = ConcurrentHashMap.newKeySet();
    private final Map<Long, Function<Work, Step>> hangs = new ConcurrentHashMap<>();
    private final List<Long> started = new CopyOnWriteArrayList<>();
    private final List<List<Long>> groups = new CopyOnWriteArrayList<>();
    private final List<List<Long>> abandonedGroups = new CopyOnWriteArrayList<>();
    private final Map<Long, List<Integer>> attempts = new ConcurrentHashMap<>();
    private final Map<Object, AtomicInteger> perKey = new ConcurrentHashMap<>();
    private final Map<Object, Integer> mostPerKey = new ConcurrentHashMap<>();
    private final AtomicInteger running = new AtomicInteger();

    void gate(long offset) {
      gates.put(offset, new CountDownLatch(1));
    }

    void open(long offset) {
      gates.get(offset).countDown();
    }

    void openAllGates() {
      gates.values().forEach(CountDownLatch::countDown);
    }

    void retryOnce(long offset, Duration delay) {
      retries.put(offset, delay);
    }

    void throwOnce(long offset) {
      throwing.add(offset);
    }

    /** The first attempt opens a transaction on {@code c} and waits until it is interrupted. */
    void hangFirstAttempt(long offset, Watchdog watchdog, Connection c) {
      hangs.put(
          offset,
          w -> {
            watchdog.opened(c);
            try {
              new CountDownLatch(1).await();
            } catch (InterruptedException e) {
              // Abandoned: claim success; the dispatcher must discard it.
            }
            return Step.DONE;
          });
    }

    /** Offset {@code offset}'s body ends, then its COMMIT waits for a reply until interrupted. */
    void hangInCommit(long offset, Watchdog watchdog, Connection c) {
      hangs.put(
          offset,
          w -> {
            watchdog.opened(c);
            watchdog.closed(c);
            try {
              new CountDownLatch(1).await();
            } catch (InterruptedException e) {
              // Aborted: the commit fails; the dispatcher discards whatever this returns.
            }
            watchdog.completing(false);
            watchdog.completed();
            return Step.DONE;
          });
    }

    /** Offset {@code offset} commits, then its after-commit work blocks until {@code release}. */
    void hangAfterCommit(long offset, Watchdog watchdog, Connection c, CountDownLatch release) {
      hangs.put(
          offset,
          w -> {
            watchdog.opened(c);
            watchdog.closed(c);
            watchdog.completing(true);
            while (true) {
              try {
                release.await();
                break;
              } catch (InterruptedException e) {
                // Ignores interrupts, like a socket read without a timeout.
              }
            }
            watchdog.completed();
            return Step.DONE;
          });
    }

    int running() {
      return running.get();
    }

    int started() {
      return started.size();
    }

    List<Long> startedOffsets() {
      return List.copyOf(started);
    }

    List<List<Long>> groups() {
      return List.copyOf(groups);
    }

    List<List<Long>> abandonedGroups() {
      return List.copyOf(abandonedGroups);
    }

    List<Integer> attemptsSeen(long offset) {
      return attempts.getOrDefault(offset, Collections.emptyList());
    }

    int mostAtOnce(Object key) {
      return mostPerKey.getOrDefault(key, 0);
    }

    @Override
    public Step apply(List<Work> group) {
      List<Long> offsets = group.stream().map(w -> w.record.offset()).toList();
      groups.add(offsets);
      started.add(offsets.get(0));
      Work head = group.get(0);
      attempts
          .computeIfAbsent(head.record.offset(), o -> new CopyOnWriteArrayList<>())
          .add(head.attempt);
      Object key = head.orderingKey == null ? head : head.orderingKey;
      int now = perKey.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
      mostPerKey.merge(key, now, Math::max);
      running.incrementAndGet();
      try {
        long offset = head.record.offset();
        Function<Work, Step> hang = hangs.remove(offset);
        if (hang != null) {
          return hang.apply(head);
        }
        CountDownLatch gate = gates.get(offset);
        if (gate != null) {
          gate.await();
        }
        if (throwing.remove(offset)) {
          throw new IllegalStateException("scripted failure of offset " + offset);
        }
        Duration retry = retries.remove(offset);
        if (retry != null) {
          head.attempt++;
          return Step.retryAfter(retry);
        }
        return Step.DONE;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Step.retryAfter(Duration.ZERO);
      } finally {
        running.decrementAndGet();
        perKey.get(key).decrementAndGet();
      }
    }

    @Override
    public Step abandoned(List<Work> group, HungAttemptException failure) {
      abandonedGroups.add(group.stream().map(w -> w.record.offset()).toList());
      group.forEach(w -> w.attempt++);
      return Step.retryAfter(Duration.ZERO);
    }
  }
}
