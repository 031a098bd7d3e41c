package dev.idem.spring.boot;

import dev.idem.consumer.TransactionHook;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.datasource.ConnectionHolder;
import org.springframework.transaction.IllegalTransactionStateException;
import org.springframework.transaction.UnexpectedRollbackException;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.transaction.support.TransactionSynchronizationUtils;

/**
 * Makes idem's transaction Spring's transaction on the worker thread that runs a handler: the
 * transaction's connection is bound as the transaction resource of the very {@code DataSource}
 * idem's connections come from, so {@code JdbcTemplate}, {@code JdbcClient}, {@code
 * NamedParameterJdbcTemplate} and {@code @Transactional} services with propagation {@code
 * REQUIRED}, {@code SUPPORTS}, {@code MANDATORY} or {@code NESTED} run on it and commit or roll
 * back with idem's {@code COMMIT}.
 *
 * <p>What it guarantees, condition by condition:
 *
 * <ul>
 *   <li>Synchronization is active while the handler runs; {@code afterCommit} and {@code
 *       afterCompletion} callbacks (and so {@code @TransactionalEventListener}s) run only after
 *       idem's own {@code COMMIT} or rollback, once the connection is back in the pool and no
 *       longer bound: data access in them runs in a transaction of its own.
 *   <li>A participant that marks the transaction rollback-only (a {@code @Transactional} method
 *       that threw, even if the handler caught it) fails the attempt: its work and the processed
 *       mark roll back and the record is retried, never committed half-done.
 *   <li>{@code REQUIRES_NEW} and {@code NOT_SUPPORTED} are refused inside a handler: they suspend
 *       the transaction and take a second pooled connection, which deadlocks a pool at its limit
 *       and commits apart from the event's mark.
 *   <li>In a grouped transaction ({@code transaction.max-records > 1}) each record runs in a
 *       savepoint; synchronizations a record registered are dropped (told of a rollback) when its
 *       savepoint rolls back, so a failed record's events never fire on the group's commit.
 *   <li>{@code beforeCommit} and {@code beforeCompletion} run when the handler returns, before its
 *       work can commit; one that throws fails the attempt.
 * </ul>
 */
final class SpringTransactionHook implements TransactionHook {
  private static final Logger log = LoggerFactory.getLogger(SpringTransactionHook.class);

  private final DataSource dataSource;
  private final ThreadLocal<Bound> bound = new ThreadLocal<>();

  /**
   * @param dataSource the exact object idem's connections come from: templates and transaction
   *     managers look the resource up under it
   */
  SpringTransactionHook(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  /** The transaction bound on one worker thread, and where the current handler call began. */
  private static final class Bound {
    final IdemConnectionHolder holder;
    // Spring sorts its list by order, so "registered since" is a set difference, not an index.
    Set<TransactionSynchronization> beforeCall = Collections.emptySet();

    Bound(IdemConnectionHolder holder) {
      this.holder = holder;
    }
  }

  /** A holder that tells Spring's transaction managers a transaction is active on it. */
  static final class IdemConnectionHolder extends ConnectionHolder {
    IdemConnectionHolder(Connection connection) {
      super(connection, true);
      setSynchronizedWithTransaction(true);
    }
  }

  @Override
  public void beforeHandler(String consumerName, Connection connection) {
    Bound b = bound.get();
    if (b == null) {
      if (TransactionSynchronizationManager.isSynchronizationActive()
          || TransactionSynchronizationManager.hasResource(dataSource)) {
        throw new IllegalTransactionStateException(
            "a Spring transaction is already active on idem's worker thread; idem's handlers run"
                + " in idem's transaction only");
      }
      b = new Bound(new IdemConnectionHolder(connection));
      TransactionSynchronizationManager.bindResource(dataSource, b.holder);
      TransactionSynchronizationManager.initSynchronization();
      TransactionSynchronizationManager.registerSynchronization(new RefuseSuspension(consumerName));
      TransactionSynchronizationManager.setActualTransactionActive(true);
      TransactionSynchronizationManager.setCurrentTransactionName("idem:" + consumerName);
      TransactionSynchronizationManager.setCurrentTransactionIsolationLevel(
          Connection.TRANSACTION_READ_COMMITTED);
      bound.set(b);
    }
    b.holder.resetRollbackOnly();
    Set<TransactionSynchronization> before = Collections.newSetFromMap(new IdentityHashMap<>());
    before.addAll(TransactionSynchronizationManager.getSynchronizations());
    b.beforeCall = before;
  }

  @Override
  public void afterHandler() {
    Bound b = bound.get();
    if (b == null) {
      return;
    }
    requireNotRollbackOnly(b);
    List<TransactionSynchronization> mine = registeredByThisCall(b);
    for (TransactionSynchronization s : mine) {
      s.beforeCommit(false);
    }
    requireNotRollbackOnly(b);
    for (TransactionSynchronization s : mine) {
      s.beforeCompletion();
    }
  }

  /** The synchronizations registered since the current handler call began. */
  private static List<TransactionSynchronization> registeredByThisCall(Bound b) {
    List<TransactionSynchronization> mine = new ArrayList<>();
    for (TransactionSynchronization s : TransactionSynchronizationManager.getSynchronizations()) {
      if (!b.beforeCall.contains(s)) {
        mine.add(s);
      }
    }
    return mine;
  }

  private static void requireNotRollbackOnly(Bound b) {
    if (b.holder.isRollbackOnly()) {
      throw new UnexpectedRollbackException(
          "a Spring transaction participant in the handler marked idem's transaction"
              + " rollback-only (a @Transactional method failed, or setRollbackOnly() was"
              + " called); idem rolls the record's work back and retries it");
    }
  }

  @Override
  public void handlerFailed() {
    Bound b = bound.get();
    if (b == null) {
      return;
    }
    // The handler's work is rolled back: so are the callbacks it registered.
    List<TransactionSynchronization> dropped = registeredByThisCall(b);
    if (!dropped.isEmpty()) {
      List<TransactionSynchronization> kept =
          new ArrayList<>(TransactionSynchronizationManager.getSynchronizations());
      kept.removeAll(dropped);
      TransactionSynchronizationManager.clearSynchronization();
      TransactionSynchronizationManager.initSynchronization();
      kept.forEach(TransactionSynchronizationManager::registerSynchronization);
      TransactionSynchronizationUtils.invokeAfterCompletion(
          dropped, TransactionSynchronization.STATUS_ROLLED_BACK);
    }
    b.holder.resetRollbackOnly();
  }

  @Override
  public void afterCompletion(boolean committed) {
    Bound b = bound.get();
    if (b == null) {
      return;
    }
    bound.remove();
    List<TransactionSynchronization> synchronizations =
        TransactionSynchronizationManager.getSynchronizations();
    TransactionSynchronizationManager.clearSynchronization();
    TransactionSynchronizationManager.unbindResourceIfPossible(dataSource);
    TransactionSynchronizationManager.setActualTransactionActive(false);
    TransactionSynchronizationManager.setCurrentTransactionName(null);
    TransactionSynchronizationManager.setCurrentTransactionIsolationLevel(null);
    TransactionSynchronizationManager.setCurrentTransactionReadOnly(false);
    b.holder.clear();
    try {
      if (committed) {
        TransactionSynchronizationUtils.invokeAfterCommit(synchronizations);
      }
    } finally {
      TransactionSynchronizationUtils.invokeAfterCompletion(
          synchronizations,
          committed
              ? TransactionSynchronization.STATUS_COMMITTED
              : TransactionSynchronization.STATUS_ROLLED_BACK);
    }
  }

  /** Refuses to let Spring suspend idem's transaction (REQUIRES_NEW, NOT_SUPPORTED). */
  private static final class RefuseSuspension implements TransactionSynchronization {
    private final String consumerName;

    RefuseSuspension(String consumerName) {
      this.consumerName = consumerName;
    }

    @Override
    public void suspend() {
      log.debug("consumer {}: refused to suspend idem's transaction", consumerName);
      throw new IllegalTransactionStateException(
          "propagation REQUIRES_NEW or NOT_SUPPORTED inside idem consumer "
              + consumerName
              + "'s handler: it would suspend idem's transaction and take a second pooled"
              + " connection (a deadlock when the pool is at its limit, and work committed apart"
              + " from the event's processed mark); use REQUIRED or NESTED, or do that work"
              + " after the commit (an afterCommit callback or @TransactionalEventListener)");
    }
  }
}
