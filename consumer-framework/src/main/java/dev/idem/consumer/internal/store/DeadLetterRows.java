package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** SQL for reading and removing dead-letter rows (replay). */
public final class DeadLetterRows {
  private final String table;
  private final String consumerName;

  /** A row as stored. */
  public record Row(
      String eventId,
      boolean hasEventId,
      String topic,
      int partition,
      long offset,
      byte[] key,
      byte[] value,
      String headersJson,
      int attempts,
      String reason,
      String exceptionClass,
      String exceptionMessage,
      Instant deadLetteredAt) {}

  /**
   * @param schema validated schema identifier
   * @param deadLetterTable validated table identifier
   */
  public DeadLetterRows(String schema, String deadLetterTable, String consumerName) {
    this.table = schema + "." + deadLetterTable;
    this.consumerName = consumerName;
  }

  /** Event ids (oldest first) matching the filters; null filters match everything. */
  public List<String> eventIds(Connection c, List<String> eventIds, String reason, int limit)
      throws SQLException {
    String sql =
        "SELECT event_id FROM "
            + table
            + " WHERE consumer_name = ?"
            + " AND (?::text[] IS NULL OR event_id = ANY(?::text[]))"
            + " AND (?::text IS NULL OR reason = ?)"
            + " ORDER BY dead_lettered_at, event_id LIMIT ?";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      java.sql.Array ids = eventIds == null ? null : c.createArrayOf("text", eventIds.toArray());
      ps.setString(1, consumerName);
      ps.setArray(2, ids);
      ps.setArray(3, ids);
      ps.setString(4, reason);
      ps.setString(5, reason);
      ps.setInt(6, limit);
      List<String> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(rs.getString(1));
        }
      }
      return result;
    }
  }

  /** Deletes one row and returns it, or null when it is gone already. */
  public Row delete(Connection c, String eventId) throws SQLException {
    String sql =
        "DELETE FROM "
            + table
            + " WHERE consumer_name = ? AND event_id = ?"
            + " RETURNING event_id, has_event_id, topic, kafka_partition, kafka_offset,"
            + " record_key, record_value, headers::text, attempts, reason, exception_class,"
            + " exception_message, dead_lettered_at";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, consumerName);
      ps.setString(2, eventId);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        Timestamp at = rs.getTimestamp(13);
        return new Row(
            rs.getString(1),
            rs.getBoolean(2),
            rs.getString(3),
            rs.getInt(4),
            rs.getLong(5),
            rs.getBytes(6),
            rs.getBytes(7),
            rs.getString(8),
            rs.getInt(9),
            rs.getString(10),
            rs.getString(11),
            rs.getString(12),
            at == null ? null : at.toInstant());
      }
    }
  }
}
