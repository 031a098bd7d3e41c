package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The outbox table's statements (schema and table already validated identifiers): the publish
 * insert with its per-key order lock, the relay's read of unsent rows, marking sent, counting what
 * is pending and deleting old sent rows.
 */
public final class OutboxRows {
  private final String table;
  private final String insert;

  /** A row to publish. */
  public record Row(
      long id,
      String eventId,
      String topic,
      byte[] key,
      byte[] value,
      String[] headerNames,
      byte[][] headerValues) {}

  /** What is pending: rows and the oldest one's age. */
  public record Pending(long rows, double oldestSeconds) {}

  public OutboxRows(String schema, String table) {
    this.table = schema + "." + table;
    // The lock is taken by the SELECT that produces the row, before the row takes its id.
    this.insert =
        "INSERT INTO "
            + this.table
            + " (event_id, topic, record_key, record_value, header_names, header_values)"
            + " SELECT ?, ?, ?, ?, ?, ? FROM (SELECT CASE WHEN ? THEN pg_advisory_xact_lock(?, ?)"
            + " END) AS order_lock";
  }

  /**
   * Inserts a row on {@code transaction}, after a transaction lock on the pair key {@code
   * (lockClassId, lockObjectId)} when {@code lock} is set.
   */
  public void insert(
      Connection transaction,
      String eventId,
      String topic,
      byte[] key,
      byte[] value,
      String[] headerNames,
      byte[][] headerValues,
      boolean lock,
      int lockClassId,
      int lockObjectId)
      throws SQLException {
    try (PreparedStatement ps = transaction.prepareStatement(insert)) {
      ps.setString(1, eventId);
      ps.setString(2, topic);
      ps.setBytes(3, key);
      ps.setBytes(4, value);
      ps.setArray(5, transaction.createArrayOf("text", headerNames));
      ps.setArray(6, transaction.createArrayOf("bytea", headerValues));
      ps.setBoolean(7, lock);
      ps.setInt(8, lockClassId);
      ps.setInt(9, lockObjectId);
      ps.executeUpdate();
    }
  }

  /** Up to {@code limit} unsent rows, in id order. */
  public List<Row> unsent(Connection c, int limit) throws SQLException {
    List<Row> rows = new ArrayList<>();
    try (PreparedStatement ps =
        c.prepareStatement(
            "SELECT id, event_id, topic, record_key, record_value, header_names, header_values"
                + " FROM "
                + table
                + " WHERE sent_at IS NULL ORDER BY id LIMIT ?")) {
      ps.setInt(1, limit);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(
              new Row(
                  rs.getLong(1),
                  rs.getString(2),
                  rs.getString(3),
                  rs.getBytes(4),
                  rs.getBytes(5),
                  (String[]) rs.getArray(6).getArray(),
                  (byte[][]) rs.getArray(7).getArray()));
        }
      }
    }
    return rows;
  }

  /** Marks {@code ids} sent, on the caller's (fenced) transaction. */
  public void markSent(Connection transaction, Long[] ids) throws SQLException {
    try (PreparedStatement ps =
        transaction.prepareStatement(
            "UPDATE " + table + " SET sent_at = now() WHERE id = ANY(?) AND sent_at IS NULL")) {
      ps.setArray(1, transaction.createArrayOf("bigint", ids));
      ps.executeUpdate();
    }
  }

  /** Unsent rows and the oldest one's age in seconds (0 when none). */
  public Pending pending(Connection c) throws SQLException {
    try (PreparedStatement ps =
            c.prepareStatement(
                "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) FROM "
                    + table
                    + " WHERE sent_at IS NULL");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return new Pending(rs.getLong(1), rs.getDouble(2));
    }
  }

  /** Deletes up to {@code limit} rows sent more than {@code retentionMillis} ago, oldest first. */
  public int deleteSentBefore(Connection c, long retentionMillis, int limit) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "DELETE FROM "
                + table
                + " WHERE id IN (SELECT id FROM "
                + table
                + " WHERE sent_at < now() - make_interval(secs => ?::double precision / 1000)"
                + " ORDER BY sent_at LIMIT ?)")) {
      ps.setLong(1, retentionMillis);
      ps.setInt(2, limit);
      return ps.executeUpdate();
    }
  }
}
