package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.BatchProcessor;
import dev.idem.consumer.internal.tx.GroupProcessor;
import dev.idem.consumer.internal.tx.GroupTransaction;
import dev.idem.consumer.internal.tx.RecordAttempts;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Builds the runners a {@link Dispatcher} hands its lanes' groups to. */
public final class Tasks {
  private Tasks() {}

  /**
   * How failures are retried.
   *
   * @param retry the retry policy of handler failures
   * @param classifier the user's classifier
   * @param readRetryTimeout how long an unreadable record whose failure the classifier calls
   *     retryable is retried before it is dead-lettered
   * @param lockWaitAllowance how long a record may wait in all for its event id's lock before a
   *     lock timeout there uses up an attempt ({@link #lockWaitAllowance})
   */
  public record FailureSettings(
      RetryPolicy retry,
      FailureClassifier classifier,
      Duration readRetryTimeout,
      Duration lockWaitAllowance) {}

  /**
   * Twice the bound of a transaction that holds an event id's lock: the watchdog abandons a
   * transaction of {@code records} records after {@code records} x (lock timeout + handler timeout
   * + grace), and its server-side timeouts end it no later. The holder is assumed to be an instance
   * of the same consumer (same timeouts, same group size); {@code records} is the largest number of
   * records one of its transactions holds the watchdog to (the group size in grouped mode, else 1).
   */
  public static Duration lockWaitAllowance(
      Duration lockTimeout, Duration handlerTimeout, int records) {
    return lockTimeout.plus(handlerTimeout).plus(Watchdog.GRACE).multipliedBy(2L * records);
  }

  /**
   * One record per run.
   *
   * @param onCrash called when a fault hook simulates the death of the process, or when a fatal VM
   *     error makes going on unsafe
   */
  public static GroupRunner forRecords(
      String consumerName,
      RecordAttempts<?> processor,
      FailureSettings failures,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    RecordTask task =
        new RecordTask(consumerName, processor, policy(processor, failures), metrics, onCrash);
    return new GroupRunner() {
      @Override
      public Step apply(List<Work> group) {
        return task.apply(group.get(0));
      }

      @Override
      public Step abandoned(List<Work> group, HungAttemptException failure) {
        return task.abandoned(group.get(0), failure);
      }
    };
  }

  /** A batch per run, falling back to {@link #forRecords} for the records of a failed batch. */
  public static <T> GroupRunner forBatches(
      String consumerName,
      RecordAttempts<T> processor,
      BatchProcessor<T> batches,
      FailureSettings failures,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    FailurePolicy policy = policy(processor, failures);
    RecordTask task = new RecordTask(consumerName, processor, policy, metrics, onCrash);
    return new BatchTask<>(
        processor, batches, record -> null, "batch", task, policy, metrics, onCrash);
  }

  /**
   * A grouped transaction per run (per-record handler, several records per transaction), falling
   * back to {@link #forRecords} for the records it did not finish.
   *
   * @param orderingKeys the ordering key of a record (null: unordered); a record of a key whose
   *     earlier record failed in the group is not attempted in it. Must not throw.
   */
  public static <T> GroupRunner forGroups(
      String consumerName,
      RecordAttempts<T> processor,
      GroupProcessor<T> groups,
      Function<ConsumerRecord<byte[], byte[]>, Object> orderingKeys,
      FailureSettings failures,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    FailurePolicy policy = policy(processor, failures);
    RecordTask task = new RecordTask(consumerName, processor, policy, metrics, onCrash);
    return new BatchTask<>(
        processor, groups, orderingKeys, "group", task, policy, metrics, onCrash);
  }

  /**
   * A batch or grouped transaction over a group, falling back to {@code single} for the records it
   * did not finish, in offset order: the fall-back logic of {@link #forBatches} and {@link
   * #forGroups} with another path for single records (a share group's).
   *
   * @param orderingKeys a record's ordering key within its group (null: unordered); must not throw
   */
  public static <T> GroupRunner overGroups(
      RecordAttempts<T> processor,
      GroupTransaction<T> transaction,
      Function<ConsumerRecord<byte[], byte[]>, Object> orderingKeys,
      String unit,
      RecordPath single,
      FailureSettings failures,
      ConsumerMetrics metrics,
      Runnable onCrash) {
    return new BatchTask<>(
        processor,
        transaction,
        orderingKeys,
        unit,
        single,
        policy(processor, failures),
        metrics,
        onCrash);
  }

  /** The failure policy of {@code failures}, for the records of {@code processor}. */
  public static FailurePolicy policy(RecordAttempts<?> processor, FailureSettings failures) {
    return new FailurePolicy(
        failures.retry(),
        failures.classifier(),
        failures.readRetryTimeout(),
        processor::isKeyRace,
        failures.lockWaitAllowance());
  }
}
