package dev.idem.consumer.internal.dispatch;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.Executor;
import javax.sql.DataSource;

/** Ends the connection of an abandoned attempt, so that its transaction can never commit. */
@FunctionalInterface
public interface ConnectionAborter {

  /**
   * pgjdbc's abort only closes the socket, at once and without a round trip; it runs on the calling
   * thread, so the transaction is dead when {@link #abort(Connection)} returns.
   */
  Executor NOW = Runnable::run;

  /** Aborts {@code c}, a connection borrowed from the consumer's pool and still in use. */
  void abort(Connection c) throws SQLException;

  /**
   * How to abort the connections of {@code pool}: {@link Connection#abort(Executor)}, which for a
   * pgjdbc connection closes its socket, so the server ends the session, rolls the transaction back
   * and releases its advisory lock.
   *
   * <p>HikariCP's proxy passes {@code abort} to the driver's connection without telling the pool,
   * which would go on counting it as borrowed for as long as the stuck thread holds it (and evict
   * it only when that thread gives it back, if ever). So for a HikariCP pool the connection is also
   * evicted: being borrowed by the caller's side, it leaves the pool at once and the pool opens a
   * replacement; when the stuck thread closes its proxy later, nothing goes back to the pool. Other
   * pools get the abort only; whether they drop the connection then is up to them.
   */
  static ConnectionAborter forPool(DataSource pool) {
    if (pool instanceof HikariDataSource hikari) {
      return c -> {
        try {
          c.abort(NOW);
        } finally {
          hikari.evictConnection(c);
        }
      };
    }
    return c -> c.abort(NOW);
  }
}
