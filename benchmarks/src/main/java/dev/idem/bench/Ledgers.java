package dev.idem.bench;

import dev.idem.example.webhook.LedgerHandler;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;

/**
 * The scenarios' tables, fresh for every run, and the check after it: a fast wrong answer is not a
 * result. A check returns {@code "exact (...)"} or {@code "WRONG: ..."}.
 */
final class Ledgers {
  /** The comment that marks the webhook schema as the benchmark's, so that it may drop it. */
  static final String WEBHOOK_SCHEMA_MARK = "idem benchmark: dropped and created for every run";

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

  /**
   * Drops the example's {@code ledger} schema and creates it again with the example's own script
   * ({@link LedgerHandler#createSchema}): its table names are fixed, so every webhook run starts
   * from an empty ledger. A {@code ledger} schema the benchmark did not create is refused, never
   * dropped.
   */
  static void resetWebhookLedger(Database db) throws SQLException {
    try (Connection c = db.connect();
        Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      try (ResultSet rs =
          s.executeQuery(
              "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace"
                  + " WHERE nspname = 'ledger'")) {
        if (rs.next() && !WEBHOOK_SCHEMA_MARK.equals(rs.getString(1))) {
          throw new IllegalStateException(
              "the database "
                  + db.url()
                  + " has a schema ledger that the benchmark did not create; the webhook"
                  + " scenarios drop and recreate it for every run: give --pg-url a database of"
                  + " their own, or leave them out with --scenarios");
        }
      }
      // The schema and its mark in one transaction: a crash cannot leave an unmarked schema.
      s.execute("DROP SCHEMA IF EXISTS ledger CASCADE");
      s.execute("CREATE SCHEMA ledger");
      s.execute("COMMENT ON SCHEMA ledger IS '" + WEBHOOK_SCHEMA_MARK + "'");
      c.commit();
    }
    LedgerHandler.createSchema(db.dataSource());
  }

  /**
   * Whether the example's ledger holds exactly one entry per unique event and every account's
   * balance is the sum of its unique events' signed amounts.
   */
  static String verifyWebhooks(Database db, WebhookWorkload w) throws SQLException {
    Map<String, Long> expected = w.expectedBalances();
    int unique = w.records.unique;
    try (Connection c = db.connect();
        Statement s = c.createStatement()) {
      long rows;
      long distinct;
      try (ResultSet rs =
          s.executeQuery("SELECT count(*), count(DISTINCT event_id) FROM ledger.entries")) {
        rs.next();
        rows = rs.getLong(1);
        distinct = rs.getLong(2);
      }
      Map<String, Long> actual = new HashMap<>();
      try (ResultSet rs =
          s.executeQuery("SELECT account, currency, balance FROM ledger.accounts")) {
        while (rs.next()) {
          actual.put(rs.getString(1) + "/" + rs.getString(2), rs.getLong(3));
        }
      }
      long wrongBalances =
          expected.entrySet().stream()
                  .filter(e -> !e.getValue().equals(actual.get(e.getKey())))
                  .count()
              + actual.keySet().stream().filter(k -> !expected.containsKey(k)).count();
      if (rows == unique && distinct == unique && wrongBalances == 0) {
        return "exact (" + rows + " entries, " + expected.size() + " balances)";
      }
      return "WRONG: "
          + rows
          + " entries, "
          + distinct
          + " distinct, expected "
          + unique
          + "; "
          + wrongBalances
          + " of "
          + expected.size()
          + " balances wrong";
    }
  }
}
