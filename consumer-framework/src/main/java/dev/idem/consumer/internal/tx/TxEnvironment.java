package dev.idem.consumer.internal.tx;

import dev.idem.consumer.TransactionHook;
import dev.idem.consumer.TransactionMisuseException;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.store.IdempotencyStore;
import dev.idem.internal.jdbc.Transactions;
import java.sql.Connection;
import java.util.function.Function;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every processing transaction of one consumer shares.
 *
 * @param consumerName the consumer's name
 * @param lockNamespace the namespace of its lock keys
 * @param dataSource the pool its transactions run on
 * @param store the SQL of the processing steps
 * @param keys the lock-key function
 * @param metrics the consumer's meters
 * @param faults the test fault points ({@link FaultHook#NONE} in production)
 * @param transactions the transaction template
 * @param attempts where running attempts register their connection, so that a stuck one can be
 *     aborted
 * @param hook the transaction hook ({@link TransactionHook#NONE} unless a framework integration set
 *     one)
 * @param observations the consumer's observations (off unless the builder was given a registry)
 */
public record TxEnvironment(
    String consumerName,
    String lockNamespace,
    DataSource dataSource,
    IdempotencyStore store,
    LockKeyFunction keys,
    ConsumerMetrics metrics,
    FaultHook faults,
    Transactions transactions,
    AttemptConnections attempts,
    TransactionHook hook,
    Observations observations) {
  private static final Logger log = LoggerFactory.getLogger(TxEnvironment.class);

  /** A call of the user's handler. */
  @FunctionalInterface
  public interface HandlerCall {
    /** Calls the handler. */
    void run() throws Exception;
  }

  /**
   * Runs {@code work} in one transaction on the pool, its connection registered with the watchdog
   * meanwhile (for the record with {@code eventId}, or null for a batch), so that a run that
   * outlives its timeouts can be aborted.
   */
  public <R> R watched(String eventId, Transactions.Work<R> work) throws Exception {
    return hooked(
        c -> {
          if (eventId == null) {
            attempts.opened(c);
          } else {
            attempts.opened(c, eventId);
          }
          try {
            return work.run(c);
          } finally {
            attempts.closed(c);
          }
        });
  }

  /**
   * Like {@link #watched}, for a grouped transaction of {@code records} records: the watchdog gives
   * it {@code records} times the time of one.
   */
  public <R> R watchedGroup(int records, Transactions.Work<R> work) throws Exception {
    return hooked(
        c -> {
          attempts.opened(c, records);
          try {
            return work.run(c);
          } finally {
            attempts.closed(c);
          }
        });
  }

  /**
   * Runs {@code work} in one transaction on the pool, then tells the hook how it ended (after the
   * connection went back to the pool).
   */
  private <R> R hooked(Transactions.Work<R> work) throws Exception {
    boolean committed = false;
    try {
      R result = transactions.run(dataSource, work);
      committed = true;
      return result;
    } finally {
      try {
        hook.afterCompletion(committed);
      } catch (RuntimeException e) {
        log.warn(
            "consumer {}: the transaction hook failed after the transaction {}; ignored",
            consumerName,
            committed ? "committed" : "rolled back",
            e);
      }
    }
  }

  /**
   * Calls a handler on the transaction's connection {@code c} through the hook: {@code
   * beforeHandler} with {@code guarded} (the connection the handler gets), the call (timed), the
   * check that it left the transaction open and not aborted, {@code afterHandler}; {@code
   * handlerFailed} when any of them throws.
   *
   * @param misuse the exception for a transaction the handler ended or left aborted
   */
  public void callHandler(
      Connection c,
      Connection guarded,
      String topic,
      HandlerCall call,
      Function<Transactions.TransactionStateException, TransactionMisuseException> misuse)
      throws Exception {
    try {
      hook.beforeHandler(consumerName, guarded);
      long start = System.nanoTime();
      try {
        call.run();
      } finally {
        metrics.handlerTime(topic, System.nanoTime() - start);
      }
      try {
        transactions.requireOpen(c);
      } catch (Transactions.TransactionStateException e) {
        throw misuse.apply(e);
      }
      hook.afterHandler();
    } catch (Throwable t) {
      hook.handlerFailed();
      throw t;
    }
  }

  /**
   * What every processor does with the failure of its transaction: rethrows a fatal error and a
   * test's simulated crash, and counts the failure unless the watchdog already counted the attempt
   * when it abandoned it.
   *
   * @return {@code failure}, for the caller's outcome
   */
  public Throwable failed(String topic, Throwable failure) {
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
