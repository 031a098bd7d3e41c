package dev.idem.consumer.internal.tx;

import dev.idem.internal.jdbc.Transactions;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * Begins, checks, commits and rolls back idem's processing transactions. The one implementation
 * today runs them on a JDBC pool through idem's transaction template; an integration with a
 * framework's transaction manager would put its own begin and commit here, and its own idea of a
 * transaction that can no longer commit.
 */
public interface TransactionRunner {

  /**
   * Runs {@code work} in one transaction and commits; rolls back and rethrows when anything throws.
   *
   * @throws Transactions.TransactionStateException when the work left the transaction aborted
   */
  <R> R run(Transactions.Work<R> work) throws Exception;

  /**
   * Fails when code that ran on {@code c} ended the transaction or left it unable to commit.
   *
   * @throws Transactions.TransactionStateException with the state found
   */
  void requireOpen(Connection c) throws SQLException;

  /**
   * The state of {@code c}'s transaction when the driver knows it without a round trip (pgjdbc's
   * own state, read from the connection it unwraps to), else null.
   */
  Transactions.State knownState(Connection c) throws SQLException;

  /** Transactions on connections of {@code dataSource}, through {@code transactions}. */
  static TransactionRunner jdbc(DataSource dataSource, Transactions transactions) {
    return new TransactionRunner() {
      @Override
      public <R> R run(Transactions.Work<R> work) throws Exception {
        return transactions.run(dataSource, work);
      }

      @Override
      public void requireOpen(Connection c) throws SQLException {
        transactions.requireOpen(c);
      }

      @Override
      public Transactions.State knownState(Connection c) throws SQLException {
        return Transactions.driverState(c);
      }
    };
  }
}
