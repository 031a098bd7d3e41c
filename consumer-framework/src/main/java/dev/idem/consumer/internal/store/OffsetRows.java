package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeSet;
import org.apache.kafka.common.TopicPartition;

/**
 * The rows behind {@link dev.idem.consumer.OffsetStore#POSTGRESQL}, and their SQL (it does not
 * implement {@code OffsetStore}, which is the setting's enum): reading a partition's stored
 * position and done offsets at assignment, and folding a contiguous done prefix into the position.
 * The done rows themselves are written by {@link PostgresIdempotencyStore}, inside each processing
 * transaction.
 */
public final class OffsetRows {
  /** The table of positions, in the consumer's schema. */
  public static final String BASE_TABLE = "consumer_offsets";

  /** The table of runs of done offsets at or above the position. */
  public static final String DONE_TABLE = "consumer_offsets_done";

  private final String consumerName;
  private final String loadBaseSql;
  private final String loadDoneSql;
  private final String foldSql;

  /**
   * What PostgreSQL holds for one partition.
   *
   * @param next the stored position (every offset below it is done), or null when none is stored
   * @param done offsets at or above {@code next} recorded as done (the stored runs, expanded)
   */
  public record Stored(Long next, NavigableSet<Long> done) {}

  /**
   * @param schema validated schema identifier
   */
  public OffsetRows(String consumerName, String schema) {
    this.consumerName = consumerName;
    String base = schema + "." + BASE_TABLE;
    String done = schema + "." + DONE_TABLE;
    String partitions = " FROM unnest(?::text[], ?::int[]) AS w(t, p)";
    this.loadBaseSql =
        "SELECT o.topic, o.kafka_partition, o.next_offset FROM "
            + base
            + " o JOIN (SELECT w.t, w.p"
            + partitions
            + ") w ON o.topic = w.t AND o.kafka_partition = w.p WHERE o.consumer_name = ?";
    this.loadDoneSql =
        "SELECT d.topic, d.kafka_partition, d.first_offset, d.last_offset FROM "
            + done
            + " d JOIN (SELECT w.t, w.p"
            + partitions
            + ") w ON d.topic = w.t AND d.kafka_partition = w.p WHERE d.consumer_name = ?";
    // One statement, so one transaction: move each position forward (never back: GREATEST, as a
    // late fold of an earlier owner may arrive after a newer one), then delete the done rows the
    // new position covers. The DELETE reads the upsert's RETURNING, the positions after the update.
    this.foldSql =
        "WITH up AS (INSERT INTO "
            + base
            + " AS o (consumer_name, topic, kafka_partition, next_offset)"
            + " SELECT ?, w.t, w.p, w.n FROM unnest(?::text[], ?::int[], ?::bigint[]) AS w(t, p, n)"
            + " ON CONFLICT (consumer_name, topic, kafka_partition) DO UPDATE"
            + " SET next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset), updated_at = now()"
            + " RETURNING o.topic, o.kafka_partition, o.next_offset)"
            + " DELETE FROM "
            + done
            + " d USING up WHERE d.consumer_name = ? AND d.topic = up.topic"
            + " AND d.kafka_partition = up.kafka_partition AND d.last_offset < up.next_offset";
  }

  /** The stored positions and done offsets of {@code partitions} (every one has an entry). */
  public Map<TopicPartition, Stored> load(Connection c, Collection<TopicPartition> partitions)
      throws SQLException {
    Map<TopicPartition, Long> next = new HashMap<>();
    try (PreparedStatement ps = c.prepareStatement(loadBaseSql)) {
      bindPartitions(c, ps, partitions);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          next.put(new TopicPartition(rs.getString(1), rs.getInt(2)), rs.getLong(3));
        }
      }
    }
    Map<TopicPartition, Stored> result = new HashMap<>();
    for (TopicPartition tp : partitions) {
      result.put(tp, new Stored(next.get(tp), new TreeSet<>()));
    }
    try (PreparedStatement ps = c.prepareStatement(loadDoneSql)) {
      bindPartitions(c, ps, partitions);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          TopicPartition tp = new TopicPartition(rs.getString(1), rs.getInt(2));
          Stored stored = result.get(tp);
          if (stored == null) {
            continue;
          }
          long from =
              stored.next() == null ? rs.getLong(3) : Math.max(rs.getLong(3), stored.next());
          for (long offset = from; offset <= rs.getLong(4); offset++) {
            stored.done().add(offset);
          }
        }
      }
    }
    return result;
  }

  /**
   * Moves the positions of the given partitions forward to the given offsets (every record below
   * each is done) and deletes the done rows below the resulting positions.
   */
  public void fold(Connection c, Map<TopicPartition, Long> positions) throws SQLException {
    List<String> topics = new ArrayList<>(positions.size());
    List<Integer> parts = new ArrayList<>(positions.size());
    List<Long> offsets = new ArrayList<>(positions.size());
    positions.forEach(
        (tp, offset) -> {
          topics.add(tp.topic());
          parts.add(tp.partition());
          offsets.add(offset);
        });
    try (PreparedStatement ps = c.prepareStatement(foldSql)) {
      ps.setString(1, consumerName);
      ps.setArray(2, c.createArrayOf("text", topics.toArray()));
      ps.setArray(3, c.createArrayOf("int4", parts.toArray()));
      ps.setArray(4, c.createArrayOf("int8", offsets.toArray()));
      ps.setString(5, consumerName);
      ps.executeUpdate();
    }
  }

  private void bindPartitions(
      Connection c, PreparedStatement ps, Collection<TopicPartition> partitions)
      throws SQLException {
    List<String> topics = new ArrayList<>(partitions.size());
    List<Integer> parts = new ArrayList<>(partitions.size());
    for (TopicPartition tp : partitions) {
      topics.add(tp.topic());
      parts.add(tp.partition());
    }
    ps.setArray(1, c.createArrayOf("text", topics.toArray()));
    ps.setArray(2, c.createArrayOf("int4", parts.toArray()));
    ps.setString(3, consumerName);
  }
}
