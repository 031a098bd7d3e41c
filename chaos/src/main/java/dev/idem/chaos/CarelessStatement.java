package dev.idem.chaos;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * What a careless handler does: it inserts a row that is already there, catches the unique
 * violation as "already done" and carries on. PostgreSQL has aborted the transaction by then, so
 * nothing the transaction wrote can commit any more; pgjdbc's {@code commit()} would answer
 * normally all the same. The table holds one row that no run deletes, so the insert always fails.
 * All SQL of the trait is here.
 */
public final class CarelessStatement {
  /** The table whose one row the careless insert collides with. */
  public static final String TABLE = "chaos.already_there";

  private static final String UNIQUE_VIOLATION = "23505";

  private CarelessStatement() {}

  /** Creates the table and its row, if missing. */
  public static void prepare(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS chaos");
      s.execute("CREATE TABLE IF NOT EXISTS " + TABLE + " (id int PRIMARY KEY)");
      s.execute("INSERT INTO " + TABLE + " VALUES (1) ON CONFLICT DO NOTHING");
    }
  }

  /**
   * Inserts the row that is already there, inside the caller's transaction, and swallows the unique
   * violation.
   *
   * @return the SQLSTATE caught ({@code 23505})
   * @throws SQLException any other error, unchanged, so that the consumer classifies it as usual (a
   *     broken connection is waited out, not counted against the event)
   * @throws ChaosException when the insert succeeded (the table lost its row): the trait would then
   *     test nothing
   */
  public static String runAndSwallow(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("INSERT INTO " + TABLE + " VALUES (1)");
    } catch (SQLException e) {
      if (!UNIQUE_VIOLATION.equals(e.getSQLState())) {
        throw e;
      }
      // The careless part: the error is dropped, the transaction is aborted.
      return e.getSQLState();
    }
    throw new ChaosException(
        "the careless insert into " + TABLE + " succeeded; its row is gone, run prepare()");
  }
}
