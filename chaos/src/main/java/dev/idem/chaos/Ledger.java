package dev.idem.chaos;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The ledger the chaos handlers write their effects to: one row per application of an event, with
 * no unique key, so an event applied twice shows as two rows. All SQL of the ledger is here.
 */
public final class Ledger {
  /** The ledger table. */
  public static final String TABLE = "chaos.applied";

  /**
   * Outbox runs: per ordering key, how many transactions that published for it committed. The
   * handler's increment takes the key's row lock until commit, so the number it reads is the
   * transaction's place in the key's commit order (a rolled-back attempt's number is taken again).
   */
  public static final String KEY_ORDER = "chaos.key_order";

  private static final String INSERT =
      "INSERT INTO "
          + TABLE
          + " (event_id, ordering_key, seq, topic, kafka_partition, kafka_offset, consumer)"
          + " VALUES (?, ?, ?, ?, ?, ?, ?)";

  private Ledger() {}

  /** Creates the ledger (if missing) and empties it. */
  public static void reset(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS chaos");
      s.execute(
          "CREATE TABLE IF NOT EXISTS "
              + TABLE
              + " (id bigserial PRIMARY KEY, event_id text NOT NULL, ordering_key text NOT NULL,"
              + " seq int NOT NULL, topic text NOT NULL, kafka_partition int NOT NULL,"
              + " kafka_offset bigint NOT NULL, consumer text NOT NULL,"
              + " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())");
      s.execute("TRUNCATE " + TABLE);
      s.execute(
          "CREATE TABLE IF NOT EXISTS "
              + KEY_ORDER
              + " (ordering_key text PRIMARY KEY, committed int NOT NULL)");
      s.execute("TRUNCATE " + KEY_ORDER);
    }
  }

  /**
   * Counts one more transaction of {@code key} on the handler's connection and returns its place in
   * the key's commit order, from 1.
   */
  public static int nextInKey(Connection c, String key) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "INSERT INTO "
                + KEY_ORDER
                + " AS k (ordering_key, committed) VALUES (?, 1) ON CONFLICT (ordering_key)"
                + " DO UPDATE SET committed = k.committed + 1 RETURNING committed")) {
      ps.setString(1, key);
      try (var rs = ps.executeQuery()) {
        rs.next();
        return rs.getInt(1);
      }
    }
  }

  /** One application of an event, as the handler saw it. */
  public record Entry(
      ChaosEvent event, String topic, int partition, long offset, String consumer) {}

  /** Writes entries in the given order (so ledger ids follow it), on the handler's connection. */
  public static void write(Connection c, Iterable<Entry> entries) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(INSERT)) {
      int n = 0;
      for (Entry e : entries) {
        ps.setString(1, e.event().id());
        ps.setString(2, e.event().key());
        ps.setInt(3, e.event().seq());
        ps.setString(4, e.topic());
        ps.setInt(5, e.partition());
        ps.setLong(6, e.offset());
        ps.setString(7, e.consumer());
        ps.addBatch();
        n++;
      }
      if (n > 0) {
        ps.executeBatch();
      }
    }
  }
}
