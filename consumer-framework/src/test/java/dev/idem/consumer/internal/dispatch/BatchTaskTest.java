package dev.idem.consumer.internal.dispatch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.EventLockTimeout;
import dev.idem.consumer.internal.tx.GroupRun;
import dev.idem.consumer.internal.tx.GroupTransaction;
import dev.idem.consumer.internal.tx.Read;
import dev.idem.consumer.internal.tx.ScriptedAttempts;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

/**
 * The fall-back logic of {@link BatchTask}: which records of a lane's group go into one transaction
 * and which go alone through the record path, in which order. The transaction and the record path
 * are scripted fakes that write what they were given to one log; the records are read by {@link
 * ScriptedAttempts}. No broker and no database.
 */
class BatchTaskTest {
  private static final TopicPartition P0 = new TopicPartition("orders", 0);

  /** Exponential without jitter: an outage waits from its third step, 400 ms. */
  private static final RetryPolicy RETRY =
      new RetryPolicy(5, Duration.ofMillis(100), Duration.ofSeconds(10), 2.0, 0.0);

  private static final Duration OUTAGE_DELAY = Duration.ofMillis(400);
  private static final Duration RECORD_RETRY = Duration.ofMillis(100);
  private static final Duration LOCK_WAITS = Duration.ofSeconds(30);
  private static final Step RETRY_AFTER_1 = Step.retryAfter(RECORD_RETRY);
  private static final Step AFTER_ABANDONED = Step.retryAfter(Duration.ofMillis(250));

  private final List<String> log = new ArrayList<>();
  private final ScriptedAttempts records = new ScriptedAttempts();
  private final ScriptedTransaction transaction = new ScriptedTransaction();
  private final ScriptedPath single = new ScriptedPath();
  private final ConsumerMetrics metrics = new ConsumerMetrics(new SimpleMeterRegistry(), "c");
  private final AtomicInteger crashes = new AtomicInteger();
  private final BatchTask<String> task =
      new BatchTask<>(
          records,
          transaction,
          record -> null,
          "batch",
          single,
          new FailurePolicy(
              RETRY,
              FailureClassifier.retryAll(),
              Duration.ofSeconds(10),
              records::isKeyRace,
              LOCK_WAITS),
          metrics,
          crashes::incrementAndGet);

  @Test
  void anUnreadableRecordSplitsTheGroupAndGoesAloneBetweenTheRecordsBeforeAndAfterIt() {
    records.unreadableAt(2);
    List<Work> group = group(5);

    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(log).containsExactly("batch [0, 1]", "record 2", "batch [3, 4]");
    assertThat(group).allMatch(Work::finished);
  }

  @Test
  void anUnreadableRecordThatIsRetriedDoesNotRunTheRecordsBeforeItAgain() {
    records.unreadableAt(2);
    single.retryOnce(2);
    List<Work> group = group(5);

    assertThat(task.apply(group)).isEqualTo(Step.retryAfter(RECORD_RETRY));
    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(log).containsExactly("batch [0, 1]", "record 2", "record 2", "batch [3, 4]");
  }

  @Test
  void aBatchThatFailsForAnotherReasonThanTheDatabaseFallsBackToOneRecordAtATimeInOffsetOrder() {
    transaction.endsWith(failedAsAWhole(new IllegalStateException("a poison record"), 0, 5));
    single.retryOnce(2);
    List<Work> group = group(5);

    assertThat(task.apply(group)).isEqualTo(Step.retryAfter(RECORD_RETRY));
    assertThat(task.apply(group)).as("on with the record that was not done").isEqualTo(Step.DONE);
    assertThat(log)
        .containsExactly(
            "batch [0, 1, 2, 3, 4]",
            "record 0",
            "record 1",
            "record 2",
            "record 2",
            "record 3",
            "record 4");
  }

  @Test
  void aConnectionFailureRetriesTheWholeGroupAfterTheOutageDelayWithoutFallingBack() {
    transaction.endsWith(
        failedAsAWhole(new SQLTransientConnectionException("refused", "08001"), 0, 3), allDone());
    List<Work> group = group(3);

    assertThat(task.apply(group)).isEqualTo(Step.retryAfter(OUTAGE_DELAY));
    assertThat(group).noneMatch(w -> w.fallback).noneMatch(Work::finished);
    assertThat(metrics.retries()).isEqualTo(1);
    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(log).containsExactly("batch [0, 1, 2]", "batch [0, 1, 2]");
  }

  @Test
  void aGroupedTransactionThatCommitsWithUnfinishedRecordsHandsExactlyThoseToTheRecordPath() {
    BitSet unfinished = new BitSet();
    unfinished.set(3);
    unfinished.set(1);
    transaction.endsWith(
        new GroupRun(null, unfinished, new TreeMap<>(Map.of(1, new IllegalStateException("1")))));
    List<Work> group = group(5);

    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(log).containsExactly("batch [0, 1, 2, 3, 4]", "decided 1", "record 3");
    assertThat(group).allMatch(Work::finished);
  }

  @Test
  void aRecordThatFailedInItsSavepointHasThatAttemptCountedAndOneHeldBackBehindItHasNot() {
    BitSet unfinished = new BitSet();
    unfinished.set(1);
    unfinished.set(3);
    transaction.endsWith(
        new GroupRun(null, unfinished, new TreeMap<>(Map.of(1, new IllegalStateException("1")))));
    List<Work> group = group(5);

    task.apply(group);

    assertThat(single.attempts).containsExactly(Map.entry(1L, 1), Map.entry(3L, 1));
    assertThat(metrics.retries()).as("the policy decides, on the record path").isZero();
  }

  @Test
  void aBatchThatFailsAsAWholeWasAnAttemptOfEachOfItsRecordsWhichThenRunAloneAsTheirSecond() {
    transaction.endsWith(failedAsAWhole(new IllegalStateException("a poison record"), 0, 3));
    List<Work> group = group(3);

    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(single.attempts)
        .containsExactly(Map.entry(0L, 2), Map.entry(1L, 2), Map.entry(2L, 2));
    assertThat(metrics.retries()).as("one retry per record").isEqualTo(3);
  }

  @Test
  void aBatchThatCannotTakeItsLocksRanNothingSoItsRecordsRunAloneWithoutUsingAnAttempt() {
    SQLException timeout = new SQLException("canceling statement due to lock timeout", "55P03");
    transaction.endsWith(
        failedAsAWhole(
            EventLockTimeout.whileLocking(timeout, "the event ids of a batch", 1_000_000L), 0, 3));
    List<Work> group = group(3);

    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(single.attempts)
        .containsExactly(Map.entry(0L, 1), Map.entry(1L, 1), Map.entry(2L, 1));
    assertThat(metrics.retries()).as("no retry: nothing ran").isZero();
  }

  @Test
  void aBatchSplitAtTheLockCapCountsItsFailedTransactionOnlyForThatTransactionsRecords() {
    // Records 0 and 1 committed in a first transaction, 2 and 3 failed in the second.
    transaction.endsWith(failedAsAWhole(new IllegalStateException("a poison record"), 2, 4));
    List<Work> group = group(4);

    task.apply(group);

    assertThat(single.attempts)
        .containsExactly(Map.entry(0L, 1), Map.entry(1L, 1), Map.entry(2L, 2), Map.entry(3L, 2));
  }

  @Test
  void aHungBatchWasAnAttemptOfEachOfItsRecords() {
    List<Work> group = group(3);

    task.abandoned(group, hung());
    task.apply(group);

    assertThat(single.attempts)
        .containsExactly(Map.entry(0L, 2), Map.entry(1L, 2), Map.entry(2L, 2));
    assertThat(metrics.retries()).isEqualTo(3);
  }

  @Test
  void aRecordThatFailedInItsSavepointWithNoAttemptLeftIsDeadLetteredWithoutRunningAgain() {
    GroupRunner grouped = groupedOverRecordTask(1);
    List<Work> group = group(3);

    assertThat(grouped.apply(group)).isEqualTo(Step.DONE);
    assertThat(records.attempts()).as("no run alone").isEmpty();
    assertThat(records.deadLetters()).containsExactly("handler-failed after 1 attempt(s)");
    assertThat(metrics.retries()).isZero();
  }

  @Test
  void aRecordThatFailedInItsSavepointIsRetriedAfterTheBackoffAsItsSecondAttempt() {
    records.attemptsEndWith(ScriptedAttempts.failed(new IllegalStateException("again")));
    GroupRunner grouped = groupedOverRecordTask(3);
    List<Work> group = group(3);

    assertThat(grouped.apply(group)).as("the backoff after attempt 1").isEqualTo(RETRY_AFTER_1);
    assertThat(records.attempts()).isEmpty();
    assertThat(grouped.apply(group)).isEqualTo(Step.retryAfter(Duration.ofMillis(200)));
    assertThat(grouped.apply(group)).isEqualTo(Step.DONE);
    assertThat(records.attempts()).containsExactly(2, 3);
    assertThat(records.deadLetters()).containsExactly("handler-failed after 3 attempt(s)");
    assertThat(metrics.retries()).isEqualTo(2);
  }

  @Test
  void anAbandonedRunOfABatchFallsBackToOneRecordAtATime() {
    List<Work> group = group(3);

    assertThat(task.abandoned(group, hung())).isEqualTo(Step.retryAfter(Duration.ZERO));
    assertThat(task.apply(group)).isEqualTo(Step.DONE);
    assertThat(log).containsExactly("record 0", "record 1", "record 2");
  }

  @Test
  void aBatchRunThatReturnsAfterItWasAbandonedChangesNothing() {
    List<Work> group = group(3);
    transaction.whileRunning(() -> group.forEach(w -> w.abandoned = true)); // the watchdog

    assertThat(task.apply(group)).isEqualTo(Step.DISCARDED);
    assertThat(group).noneMatch(Work::finished);
    assertThat(log).containsExactly("batch [0, 1, 2]");
  }

  @Test
  void anAbandonedRunOfARecordInTheFallBackGoesToThatRecordsPath() {
    transaction.endsWith(failedAsAWhole(new IllegalStateException("a poison record"), 0, 3));
    single.retryOnce(1);
    List<Work> group = group(3);
    task.apply(group); // falls back; record 0 done, record 1 to be retried

    assertThat(task.abandoned(group, hung())).isEqualTo(AFTER_ABANDONED);
    assertThat(log).endsWith("record 1", "abandoned 1");
  }

  @Test
  void aSimulatedCrashStopsTheConsumerAndRunsNothingMore() {
    transaction.whileRunning(
        () -> {
          throw new FaultHook.SimulatedCrash("the process died");
        });
    List<Work> group = group(3);

    assertThat(task.apply(group)).isEqualTo(Step.retryAfter(Duration.ofDays(1)));
    assertThat(crashes).hasValue(1);
    assertThat(log).containsExactly("batch [0, 1, 2]");
    assertThat(group).noneMatch(Work::finished);
  }

  private static GroupRun allDone() {
    return new GroupRun(null, new BitSet(), new TreeMap<>());
  }

  /** A transaction that failed as a whole, over the records at {@code from} to {@code to - 1}. */
  private static GroupRun failedAsAWhole(Throwable failure, int from, int to) {
    SortedMap<Integer, Throwable> attempted = new TreeMap<>();
    IntStream.range(from, to).forEach(i -> attempted.put(i, failure));
    return new GroupRun(failure, null, attempted);
  }

  private static HungAttemptException hung() {
    return new HungAttemptException(
        "batch", null, Duration.ofSeconds(3), Duration.ofSeconds(2), new StackTraceElement[0]);
  }

  /** The records at offsets 0 to {@code size - 1} of one lane, in a group. */
  private static List<Work> group(int size) {
    return LongStream.range(0, size).mapToObj(o -> new Work(record(o), P0, 1, null)).toList();
  }

  private static ConsumerRecord<byte[], byte[]> record(long offset) {
    return new ConsumerRecord<>(
        P0.topic(),
        P0.partition(),
        offset,
        0L,
        TimestampType.CREATE_TIME,
        1,
        1,
        new byte[1],
        new byte[1],
        new RecordHeaders(),
        Optional.empty());
  }

  private static List<Long> offsets(List<Read<String>> reads) {
    return reads.stream().map(r -> r.record().offset()).toList();
  }

  /** A transaction over the group that logs the records it was given and plays back results. */
  private final class ScriptedTransaction implements GroupTransaction<String> {
    private final Deque<GroupRun> results = new ArrayDeque<>(List.of(allDone()));
    private Runnable whileRunning = () -> {};

    /** Runs end with {@code runs}, in turn; the last one repeats. */
    void endsWith(GroupRun... runs) {
      results.clear();
      results.addAll(List.of(runs));
    }

    /** What happens during a run, before it returns: an abandonment, a crash. */
    void whileRunning(Runnable action) {
      whileRunning = action;
    }

    @Override
    public GroupRun run(List<Read<String>> reads, List<Object> orderingKeys, int attempt) {
      log.add("batch " + offsets(reads));
      whileRunning.run();
      return results.size() > 1 ? results.poll() : results.peek();
    }
  }

  /**
   * A grouped transaction over the real record path with {@code maxAttempts}, in which record 1
   * fails in its savepoint and the others commit.
   */
  private GroupRunner groupedOverRecordTask(int maxAttempts) {
    BitSet unfinished = new BitSet();
    unfinished.set(1);
    transaction.endsWith(
        new GroupRun(null, unfinished, new TreeMap<>(Map.of(1, new IllegalStateException("1")))));
    FailurePolicy policy =
        new FailurePolicy(
            new RetryPolicy(maxAttempts, RECORD_RETRY, Duration.ofSeconds(10), 2.0, 0.0),
            FailureClassifier.retryAll(),
            Duration.ofSeconds(10),
            records::isKeyRace,
            LOCK_WAITS);
    return new BatchTask<>(
        records,
        transaction,
        record -> record.offset(),
        "group",
        new RecordTask("c", records, policy, metrics, crashes::incrementAndGet),
        policy,
        metrics,
        crashes::incrementAndGet);
  }

  /** The record path: logs each record, done unless told to ask for one retry. */
  private final class ScriptedPath implements RecordPath {
    private final Set<Long> retryOnce = new HashSet<>();

    /** The attempt number of each record's run, by offset, in the order of the runs. */
    private final List<Map.Entry<Long, Integer>> attempts = new ArrayList<>();

    /** The record at {@code offset} asks for a retry on its first run. */
    void retryOnce(long offset) {
      retryOnce.add(offset);
    }

    @Override
    public Step apply(Work work) {
      log.add("record " + work.record().offset());
      attempts.add(Map.entry(work.record().offset(), work.attempt));
      return retryOnce.remove(work.record().offset()) ? Step.retryAfter(RECORD_RETRY) : Step.DONE;
    }

    /** Decides as if the record were given up: done. */
    @Override
    public Step afterGroupFailure(Work work, Throwable failure) {
      log.add("decided " + work.record().offset());
      attempts.add(Map.entry(work.record().offset(), work.attempt));
      return Step.DONE;
    }

    @Override
    public Step abandoned(Work work, HungAttemptException failure) {
      log.add("abandoned " + work.record().offset());
      return AFTER_ABANDONED;
    }
  }
}
