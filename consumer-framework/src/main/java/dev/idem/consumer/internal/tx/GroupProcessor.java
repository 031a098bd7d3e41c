package dev.idem.consumer.internal.tx;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.store.IdempotencyStore;
import dev.idem.consumer.internal.store.RecordCoordinates;
import dev.idem.internal.jdbc.Transactions;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Several records of one partition, one transaction, the per-record handler (grouped mode): the
 * advisory locks of all their event ids are taken at once in ascending key order; then each record,
 * in offset order, runs in a savepoint of its own: its check and mark (and, with offsets in
 * PostgreSQL, its done-offset row), its handler, the transaction-state check. A record that fails
 * is rolled back to its savepoint alone, and the later records of its ordering key are not
 * attempted, so they never run ahead of it; one commit for the rest.
 *
 * <p>Round trips: one for the settings and all the locks; one per record for the release of the
 * previous record's savepoint, its own savepoint and its mark; the handler's; one {@code COMMIT}
 * (which releases the last savepoint).
 *
 * <p>The mark and the done-offset row are written inside the record's savepoint, never before it:
 * what a transaction writes before a savepoint survives {@code ROLLBACK TO SAVEPOINT}, and a failed
 * record that kept its mark would be skipped as a duplicate on its retry, a lost event.
 *
 * @param <T> the payload type
 */
public final class GroupProcessor<T> implements GroupTransaction<T> {
  private final TxEnvironment env;
  private final RecordProcessor<T> records;

  /**
   * @param records the record path, whose handler and state check every record of a group runs
   *     through
   */
  public GroupProcessor(TxEnvironment env, RecordProcessor<T> records) {
    this.env = env;
    this.records = records;
  }

  /**
   * Applies read records of one partition (in offset order) in one transaction; {@code
   * orderingKeys} holds each one's ordering key (null: unordered).
   *
   * @throws FaultHook.SimulatedCrash when a test's fault hook stops the consumer
   */
  @Override
  public GroupRun run(List<Read<T>> items, List<Object> orderingKeys, int attempt) {
    List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>(items.size());
    items.forEach(p -> records.add(p.record()));
    Unit unit = Unit.group(records, attempt);
    return env.observe(unit, () -> transact(unit, items, orderingKeys, attempt));
  }

  private GroupRun transact(
      Unit unit, List<Read<T>> items, List<Object> orderingKeys, int attempt) {
    Outcome.Kind[] kinds = new Outcome.Kind[items.size()];
    Throwable[] failures = new Throwable[items.size()];
    Attempted<Void> tx =
        env.transact(
            unit,
            open -> {
              steps(open, items, orderingKeys, attempt, kinds, failures);
              return null;
            });
    if (!tx.ok()) {
      // Which record made the transaction fail is not known (a failed COMMIT, a handler that
      // ended the transaction): the failure is an attempt of each record.
      BitSet all = new BitSet(items.size());
      all.set(0, items.size());
      return GroupRun.failed(tx.failure(), all);
    }
    BitSet unfinished = new BitSet(items.size());
    SortedMap<Integer, Throwable> failed = new TreeMap<>();
    for (int i = 0; i < items.size(); i++) {
      ConsumerRecord<byte[], byte[]> r = items.get(i).record();
      if (kinds[i] == Outcome.Kind.PROCESSED) {
        env.metrics().processed(r.topic());
      } else if (kinds[i] == Outcome.Kind.DUPLICATE) {
        env.metrics().duplicate(r.topic());
      } else {
        unfinished.set(i);
        if (failures[i] != null) {
          env.metrics().failure(r.topic());
          failed.put(i, failures[i]);
        }
      }
    }
    for (int i = 0; i < items.size(); i++) {
      if (!unfinished.get(i)) {
        env.faults().afterDatabaseCommit(items.get(i).record());
      }
    }
    return new GroupRun(null, unfinished, failed);
  }

  /**
   * The steps inside the transaction. Fills {@code kinds} (PROCESSED or DUPLICATE, null when not
   * finished) and {@code failures}; throws when the transaction as a whole cannot go on.
   */
  private void steps(
      OpenTransaction tx,
      List<Read<T>> items,
      List<Object> orderingKeys,
      int attempt,
      Outcome.Kind[] kinds,
      Throwable[] failures)
      throws Exception {
    Connection c = tx.connection();
    String topic = items.get(0).record().topic();
    long[] lockKeys = new long[items.size()];
    for (int i = 0; i < items.size(); i++) {
      lockKeys[i] = env.keys().key(env.lockNamespace(), items.get(i).eventId());
    }
    long lockStart = System.nanoTime();
    try {
      env.store()
          .beginAndLockAll(c, items.size(), Arrays.stream(lockKeys).sorted().distinct().toArray());
    } catch (SQLException e) {
      throw EventLockTimeout.whileLocking(
          e, "the event ids of a group", System.nanoTime() - lockStart);
    }
    env.metrics().lockWait(topic, System.nanoTime() - lockStart);
    Progress<T> progress = new Progress<>(items, orderingKeys, kinds, failures);
    IdempotencyStore.PreviousSavepoint previous = IdempotencyStore.PreviousSavepoint.NONE;
    // The record whose savepoint is the open one, or -1 before the first.
    int last = -1;
    for (int i = 0; i < items.size(); i++) {
      if (last >= 0) {
        failIfAborted(c, progress, last);
      }
      if (progress.isHeld(i)) {
        continue;
      }
      Read<T> read = items.get(i);
      try {
        // The previous record's savepoint is released, this record's opened and its mark written
        // inside it, in one round trip. Should the savepoint itself fail, the rollback to it fails
        // too, and with it the group.
        IdempotencyStore.PreviousSavepoint before = previous;
        // Open from here on: when the mark fails, the rollback below keeps the savepoint, and
        // the next record releases it first.
        previous = IdempotencyStore.PreviousSavepoint.OPEN;
        last = i;
        boolean fresh =
            env.store()
                .savepointAndMark(c, before, read.eventId(), RecordCoordinates.of(read.record()));
        if (fresh) {
          records.handle(tx, read, attempt);
        }
        kinds[i] = fresh ? Outcome.Kind.PROCESSED : Outcome.Kind.DUPLICATE;
      } catch (Throwable t) {
        Failures.rethrowIfFatal(t);
        if (t instanceof FaultHook.SimulatedCrash) {
          throw t;
        }
        // A rollback that fails (the connection is gone, the handler ended the transaction)
        // fails the whole group: nothing of it counts as done.
        rollbackTo(c, t);
        progress.failed(i, t);
      }
    }
    if (last >= 0) {
      // COMMIT releases the last record's savepoint.
      failIfAborted(c, progress, last);
    }
  }

  /**
   * Before record {@code last}'s savepoint is released (by the next record's statements, or by
   * {@code COMMIT}): a transaction no longer open was aborted (or ended) by something that ran
   * after that savepoint was taken, since every record before it was checked here too. Its handler
   * and the hook passed their checks, so it came after them: a statement on the hook's connection
   * from a thread the handler left running, say. Released, the next record's failure would roll
   * back to this savepoint and undo record {@code last} while it counted as done; so it fails here,
   * rolled back to its savepoint alone, and goes the one-at-a-time path. Read from the driver's
   * state, without a round trip; a runner that cannot tell skips it (the check before {@code
   * COMMIT} still fails the whole group then, which falls back one record at a time).
   */
  private void failIfAborted(Connection c, Progress<T> progress, int last) throws Exception {
    Transactions.State state = env.runner().knownState(c);
    if (state == null || state == Transactions.State.OPEN) {
      return;
    }
    Read<T> read = progress.items.get(last);
    Throwable failure = RecordProcessor.misuseOf(read, state);
    rollbackTo(c, failure);
    if (progress.kinds[last] == Outcome.Kind.PROCESSED) {
      // Its handler's work is rolled back after all: the hook drops what that call registered.
      env.hook().handlerFailed();
    }
    if (progress.kinds[last] != null) {
      progress.failed(last, failure);
    }
  }

  /** A group's records and what became of each, with the ordering keys held back by a failure. */
  private static final class Progress<T> {
    final List<Read<T>> items;
    final List<Object> orderingKeys;
    final Outcome.Kind[] kinds;
    final Throwable[] failures;
    // Ordering keys with a failed record in this group: their later records wait for it.
    final Set<Object> held = new HashSet<>();

    Progress(
        List<Read<T>> items,
        List<Object> orderingKeys,
        Outcome.Kind[] kinds,
        Throwable[] failures) {
      this.items = items;
      this.orderingKeys = orderingKeys;
      this.kinds = kinds;
      this.failures = failures;
    }

    boolean isHeld(int i) {
      Object key = orderingKeys.get(i);
      return key != null && held.contains(key);
    }

    /** Record {@code i} failed with {@code failure} and was rolled back to its savepoint. */
    void failed(int i, Throwable failure) {
      kinds[i] = null;
      failures[i] = failure;
      Object key = orderingKeys.get(i);
      if (key != null) {
        held.add(key);
      }
    }
  }

  private void rollbackTo(Connection c, Throwable failure) throws SQLException {
    try {
      env.store().rollbackToSavepoint(c);
    } catch (SQLException | RuntimeException e) {
      e.addSuppressed(failure);
      throw e;
    }
  }
}
