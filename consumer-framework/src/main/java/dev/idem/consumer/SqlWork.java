package dev.idem.consumer;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Statements run on the transaction's connection, for {@link ProcessingContext#withSavepoint} and
 * {@link BatchContext#withSavepoint}.
 *
 * @param <R> what the work returns
 */
@FunctionalInterface
public interface SqlWork<R> {

  /** Runs statements on {@code connection}, the transaction's (guarded) connection. */
  R run(Connection connection) throws SQLException;
}
