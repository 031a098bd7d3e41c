package dev.idem.consumer.internal.store;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** SQL for reading and removing dead-letter rows (replay and discard). */
public final class DeadLetterRows {
  private final String table;
  private final String processed;
  private final String consumerName;

  /**
   * A dead letter picked for replay.
   *
   * @param id the row's id
   * @param eventId the event id, or null for a record that had none
   * @param origin where the record came from
   * @param parkedKey the parked key it belongs to (park-key mode), or null
   */
  public record Ref(long id, String eventId, RecordCoordinates origin, Long parkedKey) {
    /** The event id, or the record's coordinates when it had none: for logs and results. */
    public String label() {
      return eventId != null ? eventId : origin.toString();
    }
  }

  /**
   * A row as stored; {@code eventId} is null for a record that had none, {@code deliveryCount} for
   * a record not read in a share group.
   */
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
      Integer deliveryCount,
      String reason,
      String exceptionClass,
      String exceptionMessage,
      Instant deadLetteredAt) {
    /** The event id, or the record's coordinates when it had none: for logs and results. */
    public String label() {
      return eventId != null ? eventId : topic + "-" + partition + "@" + offset;
    }
  }

  /**
   * @param schema validated schema identifier
   * @param deadLetterTable validated table identifier
   * @param processedTable validated table identifier
   */
  public DeadLetterRows(
      String schema, String deadLetterTable, String processedTable, String consumerName) {
    this.table = schema + "." + deadLetterTable;
    this.processed = schema + "." + processedTable;
    this.consumerName = consumerName;
  }

  /**
   * Dead letters (oldest first) matching the filters; null filters match everything. A filter by
   * event ids never matches records that had none.
   */
  public List<Ref> select(Connection c, List<String> eventIds, String reason, int limit)
      throws SQLException {
    String sql =
        "SELECT id, event_id, topic, kafka_partition, kafka_offset, parked_key FROM "
            + table
            + " WHERE consumer_name = ?"
            + " AND (?::text[] IS NULL OR event_id = ANY(?::text[]))"
            + " AND (?::text IS NULL OR reason = ?)"
            + " ORDER BY dead_lettered_at, id LIMIT ?";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      Array ids = eventIds == null ? null : c.createArrayOf("text", eventIds.toArray());
      ps.setString(1, consumerName);
      ps.setArray(2, ids);
      ps.setArray(3, ids);
      ps.setString(4, reason);
      ps.setString(5, reason);
      ps.setInt(6, limit);
      List<Ref> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long parked = rs.getLong(6);
          Long parkedKey = rs.wasNull() ? null : parked; // wasNull speaks of the last column read
          result.add(
              new Ref(
                  rs.getLong(1),
                  rs.getString(2),
                  new RecordCoordinates(rs.getString(3), rs.getInt(4), rs.getLong(5)),
                  parkedKey));
        }
      }
      return result;
    }
  }

  /** Deletes one row and returns it, or null when it is gone already. */
  public Row delete(Connection c, long id) throws SQLException {
    String sql =
        "DELETE FROM "
            + table
            + " WHERE consumer_name = ? AND id = ?"
            + " RETURNING event_id, has_event_id, topic, kafka_partition, kafka_offset,"
            + " record_key, record_value, headers::text, attempts, delivery_count, reason,"
            + " exception_class, exception_message, dead_lettered_at";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, consumerName);
      ps.setLong(2, id);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        Timestamp at = rs.getTimestamp(14);
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
            rs.getObject(10, Integer.class),
            rs.getString(11),
            rs.getString(12),
            rs.getString(13),
            at == null ? null : at.toInstant());
      }
    }
  }

  /**
   * Records a discarded dead letter's event id as processed, so that later copies of it are skipped
   * as duplicates although its effects were never applied.
   */
  public void markDiscarded(Connection c, Row row) throws SQLException {
    if (row.eventId() == null) {
      return; // a record without an id has no copies to stop
    }
    try (PreparedStatement ps =
        c.prepareStatement(
            "INSERT INTO "
                + processed
                + " (consumer_name, event_id, topic, kafka_partition, kafka_offset)"
                + " VALUES (?, ?, ?, ?, ?) ON CONFLICT (consumer_name, event_id) DO NOTHING")) {
      ps.setString(1, consumerName);
      ps.setString(2, row.eventId());
      ps.setString(3, row.topic());
      ps.setInt(4, row.partition());
      ps.setLong(5, row.offset());
      ps.executeUpdate();
    }
  }
}
