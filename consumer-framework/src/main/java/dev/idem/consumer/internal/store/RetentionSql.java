package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;

/** SQL of the processed-ids retention. */
public final class RetentionSql {
  private final String deleteSql;
  private final String consumerName;

  public RetentionSql(String schema, String processedTable, String consumerName) {
    this.consumerName = consumerName;
    String table = schema + "." + processedTable;
    // Bounded: one batch per statement, oldest first, using the processed_at index.
    this.deleteSql =
        "DELETE FROM "
            + table
            + " WHERE (consumer_name, event_id) IN ("
            + "SELECT consumer_name, event_id FROM "
            + table
            + " WHERE consumer_name = ? AND processed_at < ? ORDER BY processed_at LIMIT ?)";
  }

  /** Deletes up to {@code limit} marks older than {@code cutoff}; returns how many. */
  public int deleteBatch(Connection c, Instant cutoff, int limit) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(deleteSql)) {
      ps.setString(1, consumerName);
      ps.setTimestamp(2, Timestamp.from(cutoff));
      ps.setInt(3, limit);
      return ps.executeUpdate();
    }
  }
}
