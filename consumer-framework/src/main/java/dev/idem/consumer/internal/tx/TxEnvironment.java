package dev.idem.consumer.internal.tx;

import dev.idem.consumer.TransactionHook;
import dev.idem.consumer.TransactionMisuseException;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.IsolatedObservation;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.store.IdempotencyStore;
import dev.idem.consumer.observation.BatchObservationContext;
import dev.idem.consumer.observation.RecordObservationContext;
import dev.idem.internal.jdbc.Transactions;
import io.micrometer.observation.Observation;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every processing transaction of one consumer shares, and the one frame around each of them.
 * The record, batch and group processors supply only their steps; the frame owns what comes around
 * them: the observation and the trace ids in the MDC ({@link #observe}), the test fault points, the
 * transaction timer, the watchdog's registration of the connection, begin and commit or rollback
 * through the {@link TransactionRunner}, the hook's after-completion call and the accounting of a
 * failure ({@link #transact}), and the hook's calls and the state check around a handler ({@link
 * #callHandler}).
 *
 * @param consumerName the consumer's name
 * @param lockNamespace the namespace of its lock keys
 * @param runner begins, checks and ends its transactions
 * @param store the SQL of the processing steps
 * @param keys the lock-key function
 * @param metrics the consumer's meters
 * @param faults the test fault points ({@link FaultHook#NONE} in production)
 * @param attempts where running attempts register their connection, so that a stuck one can be
 *     aborted
 * @param hook the transaction hook ({@link TransactionHook#NONE} unless a framework integration set
 *     one)
 * @param observations the consumer's observations (off unless the builder was given a registry)
 */
public record TxEnvironment(
    String consumerName,
    String lockNamespace,
    TransactionRunner runner,
    IdempotencyStore store,
    LockKeyFunction keys,
    ConsumerMetrics metrics,
    FaultHook faults,
    AttemptConnections attempts,
    TransactionHook hook,
    Observations observations) {
  private static final Logger log = LoggerFactory.getLogger(TxEnvironment.class);

  /** The steps inside a transaction. */
  @FunctionalInterface
  public interface Steps<R> {
    /** Runs the steps in the transaction {@code tx}. */
    R run(OpenTransaction tx) throws Exception;
  }

  /** A call of the user's handler. */
  @FunctionalInterface
  public interface HandlerCall {
    /** Calls the handler with {@code guarded}, the connection it gets. */
    void run(Connection guarded) throws Exception;
  }

  /**
   * Runs {@code attempt}, the whole of one attempt at {@code unit}, in its observation when
   * observations are on: a record observation for a record or its dead letter, a batch observation
   * for a batch or group, ended with the result's outcome and error. An attempt at a record puts
   * the trace ids in the MDC either way, for its log lines. What the observation's handlers and
   * conventions throw is counted ({@code idem.observation.failures}) and logged, and never changes
   * the attempt or its result (see {@link IsolatedObservation}).
   */
  public <R extends Observed> R observe(Unit unit, Supplier<R> attempt) {
    boolean record = unit.kind() == Unit.Kind.RECORD || unit.kind() == Unit.Kind.DEAD_LETTER;
    if (observations.off()) {
      if (record) {
        Observations.toMdc(null, unit.first());
      }
      return attempt.get();
    }
    IsolatedObservation.Listener failed =
        phase -> metrics.observationFailure(unit.topic(), phase.tag());
    IsolatedObservation observation =
        switch (unit.kind()) {
          case RECORD ->
              observations.record(
                  unit.first(), RecordObservationContext.Operation.PROCESS, unit.attempt(), failed);
          case DEAD_LETTER ->
              observations.record(
                  unit.first(),
                  RecordObservationContext.Operation.DEAD_LETTER,
                  unit.attempt(),
                  failed);
          case BATCH ->
              observations.batch(
                  unit.records(), BatchObservationContext.Unit.BATCH, unit.attempt(), failed);
          case GROUP ->
              observations.batch(
                  unit.records(), BatchObservationContext.Unit.GROUP, unit.attempt(), failed);
        };
    Throwable thrown = null;
    observation.openScope();
    try {
      if (record) {
        Observations.toMdc(observation.observation(), unit.first());
      }
      R result = attempt.get();
      Observation.Context context =
          observation.observation() == null ? null : observation.observation().getContext();
      if (context instanceof RecordObservationContext c) {
        c.setEventId(result.eventId());
        c.setOutcome(result.outcome());
      } else if (context instanceof BatchObservationContext c) {
        c.setOutcome(result.outcome());
      }
      thrown = result.error();
      return result;
    } catch (RuntimeException | Error e) {
      thrown = e;
      throw e;
    } finally {
      observation.closeScope();
      if (thrown != null) {
        observation.error(thrown);
      }
      observation.stop();
    }
  }

  /**
   * Runs {@code steps} in one transaction for {@code unit}: the test fault points of its records,
   * its connection registered with the watchdog meanwhile (for the record's event id, for a batch,
   * or for a group of N records that may take N times as long), begin and commit through the
   * runner, the hook told how it ended once the connection is back in the pool (watched too: a hook
   * that blocks there is abandoned like a hung transaction; what it throws after a commit is
   * counted, {@code idem.hooks.after-commit.failures}), and the time recorded. A failure is counted
   * (unless the watchdog already counted the abandoned attempt) and returned; a fatal error and a
   * test's simulated crash are thrown.
   *
   * @throws FaultHook.SimulatedCrash when a test's fault hook stops the consumer
   */
  public <R> Attempted<R> transact(Unit unit, Steps<R> steps) {
    unit.records().forEach(faults::transactionStarted);
    long start = System.nanoTime();
    boolean committed = false;
    try {
      R value =
          runner.run(
              c -> {
                register(unit, c);
                OpenTransaction tx = new OpenTransaction(c, unit.describe());
                try {
                  return steps.run(tx);
                } finally {
                  tx.stepsEnded();
                  attempts.closed(c);
                }
              });
      committed = true;
      return Attempted.committed(value);
    } catch (Throwable t) {
      return Attempted.failed(failed(unit.topic(), t));
    } finally {
      attempts.completing(committed);
      try {
        afterCompletion(unit.topic(), committed);
      } finally {
        attempts.completed();
      }
      metrics.transactionTime(unit.topic(), System.nanoTime() - start);
    }
  }

  private void register(Unit unit, Connection c) {
    switch (unit.kind()) {
      case RECORD, DEAD_LETTER -> attempts.opened(c, unit.eventId());
      case BATCH -> attempts.opened(c);
      case GROUP -> attempts.opened(c, unit.records().size());
    }
  }

  private void afterCompletion(String topic, boolean committed) {
    try {
      hook.afterCompletion(committed);
    } catch (RuntimeException e) {
      if (committed) {
        metrics.afterCommitFailure(topic);
      }
      log.warn(
          "consumer {}: the transaction hook failed after the transaction {}; ignored",
          consumerName,
          committed ? "committed" : "rolled back",
          e);
    }
  }

  /**
   * Calls a handler in {@code tx} through the hook: {@code beforeHandler} with the hook's guarded
   * connection, the call (timed) with a guarded connection of its own, the check that it left the
   * transaction open and not aborted, {@code afterHandler}, the end of the handler's connection,
   * and the check again when anything could have run on the transaction since the first (the hook's
   * before-commit work, a thread the handler left running); {@code handlerFailed} when any of them
   * throws.
   *
   * <p>The handler's connection, and the statements and result sets it created, expire once this
   * call's before-commit work is done, whatever the outcome: a later use throws {@link
   * IllegalStateException} naming {@code owner}.
   *
   * @param owner whose handler call this is, for that exception ("event id e-1 (orders-3@1234)")
   * @param misuse the exception for a transaction the handler (or the hook) ended or left aborted
   */
  public void callHandler(
      OpenTransaction tx,
      String owner,
      String topic,
      HandlerCall call,
      Function<Transactions.TransactionStateException, TransactionMisuseException> misuse)
      throws Exception {
    Connection c = tx.connection();
    GuardedConnection guarded = GuardedConnection.wrap(c, owner);
    try {
      hook.beforeHandler(consumerName, tx.forHook());
      long start = System.nanoTime();
      try {
        call.run(guarded.connection());
      } finally {
        metrics.handlerTime(topic, System.nanoTime() - start);
      }
      guarded.handlerReturned();
      requireOpen(c, misuse);
      hook.afterHandler();
      // The before-commit work is done: the handler's connection expires, and a use of it still
      // in flight ends first. What the hook did, or what a use after the handler returned did,
      // may have aborted the transaction after the check above: a failure of this record, which
      // must not pass for the next record's (its savepoint would roll this record back) or commit.
      boolean usedSinceReturn = guarded.expire();
      if (usedSinceReturn || hook != TransactionHook.NONE) {
        requireOpen(c, misuse);
      }
    } catch (Throwable t) {
      hook.handlerFailed();
      throw t;
    } finally {
      guarded.expire();
    }
  }

  private void requireOpen(
      Connection c,
      Function<Transactions.TransactionStateException, TransactionMisuseException> misuse)
      throws SQLException {
    try {
      runner.requireOpen(c);
    } catch (Transactions.TransactionStateException e) {
      throw misuse.apply(e);
    }
  }

  /**
   * What every transaction's failure comes to: a fatal error and a test's simulated crash are
   * rethrown; any other failure is counted unless the watchdog already counted the attempt when it
   * abandoned it.
   */
  private Throwable failed(String topic, Throwable failure) {
    Failures.rethrowIfFatal(failure);
    if (failure instanceof FaultHook.SimulatedCrash crash) {
      throw crash;
    }
    if (!attempts.abandoned()) {
      metrics.failure(topic);
    }
    return failure;
  }
}
