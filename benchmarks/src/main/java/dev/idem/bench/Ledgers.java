package dev.idem.bench;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The scenarios' tables, fresh for every run, and the check after it: a fast wrong answer is not a
 * result. A check returns {@code "exact (...)"} or {@code "WRONG: ..."}.
 */
final class Ledgers {
  private Ledgers() {}

  /** Creates the ledger and processed tables of a synthetic scenario (names from the prefix). */
  static void createTables(Database db, String prefix, String scenario) throws SQLException {
    String name = prefix + "_" + scenario.replace('-', '_');
    try (Connection c = db.connect();
        Statement s = c.createStatement()) {
      s.execute(
          "CREATE TABLE IF NOT EXISTS "
              + name
              + "_ledger (event_id text NOT NULL,"
              + " account text NOT NULL, amount int NOT NULL)");
      s.execute("CREATE TABLE IF NOT EXISTS " + name + "_processed (event_id text PRIMARY KEY)");
    }
  }

  /** Whether {@code ledger} holds exactly one row per unique event. */
  static String verify(Database db, String ledger, int unique) throws SQLException {
    try (Connection c = db.connect();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*), count(DISTINCT event_id) FROM " + ledger)) {
      rs.next();
      long rows = rs.getLong(1);
      long distinct = rs.getLong(2);
      return rows == unique && distinct == unique
          ? "exact (" + rows + " rows)"
          : "WRONG: " + rows + " rows, " + distinct + " distinct, expected " + unique;
    }
  }
}
