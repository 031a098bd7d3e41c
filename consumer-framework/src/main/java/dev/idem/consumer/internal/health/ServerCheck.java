package dev.idem.consumer.internal.health;

import dev.idem.IdemException;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.internal.store.ServerSettings;
import dev.idem.internal.jdbc.Transactions;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The check of the server a consumer runs before it polls: the pool's connections must allow the
 * check for a transaction a handler left aborted, and a server without {@code fsync} is worth a
 * warning (it can lose commits whose offsets already moved on).
 */
public final class ServerCheck {
  private static final Logger log = LoggerFactory.getLogger(ServerCheck.class);

  private ServerCheck() {}

  /**
   * Checks the server behind {@code dataSource} and returns its {@code server_version_num}.
   *
   * @throws IdemConfigException naming {@code consumer.transaction-state-check} when the driver
   *     check cannot see the pool's connections
   * @throws IdemException when the server cannot be reached
   */
  public static int run(String consumerName, DataSource dataSource, Transactions transactions) {
    try {
      return transactions.run(dataSource, c -> check(c, transactions));
    } catch (IdemException e) {
      throw e;
    } catch (Exception e) {
      throw new IdemException("cannot reach PostgreSQL to start " + consumerName + ": " + e, e);
    }
  }

  private static int check(Connection c, Transactions transactions) throws SQLException {
    ServerSettings settings = ServerSettings.read(c);
    if (!transactions.canCheck(c)) {
      throw new IdemConfigException(
          "consumer.transaction-state-check",
          "driver: the pool's connections ("
              + c.getClass().getName()
              + ") do not unwrap to pgjdbc's org.postgresql.core.BaseConnection, so idem cannot"
              + " read whether a handler left its transaction aborted; use a pool whose"
              + " connections unwrap (HikariCP, pgjdbc's data sources), or set"
              + " consumer.transaction-state-check=query (one SELECT 1 per transaction)");
    }
    if (!settings.fsync()) {
      log.warn(
          "PostgreSQL runs with fsync=off: a server crash can lose commits whose offsets were"
              + " already committed, and their events would never be applied");
    }
    return settings.versionNum();
  }
}
