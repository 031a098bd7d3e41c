package dev.idem.consumer.internal.store;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The SQL of parked ordering keys ({@code consumer.dead-letter.on-failure=park-key}): a key of a
 * topic-partition whose record was dead-lettered; later records of it are dead-lettered behind it,
 * in order, until a replay releases them.
 */
public final class ParkedKeys implements KeyParking {
  private final String consumerName;
  private final String table;
  private final String deadLetters;

  /**
   * Where a record's ordering key is parked: its topic-partition and the key's bytes ({@link
   * #keyBytes}).
   */
  public record Scope(String topic, int partition, byte[] orderingKey) {}

  /**
   * A parked key's row, locked by the caller's transaction.
   *
   * @param id the row's id
   * @param releasing whether a replay is releasing its dead letters now
   * @param token the release's token, carried by the republished records ({@code idem.release})
   */
  public record Parked(long id, boolean releasing, UUID token) {}

  /**
   * @param schema validated schema identifier
   * @param deadLetterTable validated table identifier
   */
  public ParkedKeys(String consumerName, String schema, String deadLetterTable) {
    this.consumerName = consumerName;
    this.table = schema + "." + deadLetterTable + "_parked_keys";
    this.deadLetters = schema + "." + deadLetterTable;
  }

  /**
   * The bytes an ordering key is parked under: a byte key as it is, text as UTF-8, anything else by
   * its class and {@code toString()}; each with a tag so that the kinds never collide.
   */
  public static byte[] keyBytes(Object orderingKey) {
    byte tag;
    byte[] body;
    if (orderingKey instanceof ByteBuffer buffer) {
      tag = 'b';
      ByteBuffer copy = buffer.duplicate();
      body = new byte[copy.remaining()];
      copy.get(body);
    } else if (orderingKey instanceof String text) {
      tag = 's';
      body = text.getBytes(StandardCharsets.UTF_8);
    } else {
      tag = 'o';
      body =
          (orderingKey.getClass().getName() + ":" + orderingKey).getBytes(StandardCharsets.UTF_8);
    }
    byte[] bytes = new byte[body.length + 1];
    bytes[0] = tag;
    System.arraycopy(body, 0, bytes, 1, body.length);
    return bytes;
  }

  @Override
  public Scope scope(String topic, int partition, Object orderingKey) {
    return orderingKey == null ? null : new Scope(topic, partition, keyBytes(orderingKey));
  }

  @Override
  public Parked lookup(Connection c, Scope scope) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "SELECT id, state, release_token FROM "
                + table
                + " WHERE consumer_name = ? AND topic = ? AND kafka_partition = ?"
                + " AND ordering_key = ? FOR UPDATE")) {
      bind(ps, scope);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        return new Parked(
            rs.getLong(1), "releasing".equals(rs.getString(2)), rs.getObject(3, UUID.class));
      }
    }
  }

  /**
   * Parks the key for a record just dead-lettered (row {@code deadLetterId}) and files the dead
   * letter under it: a new row when the key was not parked (the dead letter is its head), the
   * existing one otherwise. During a release, a released record that failed again parks the key
   * afresh (the released records after it queue behind it); any other record is noted as queued
   * meanwhile, so the row stays when the release is done.
   */
  @Override
  public void park(Connection c, Scope scope, long deadLetterId, Arrival arrival)
      throws SQLException {
    boolean releasedRecord = arrival == Arrival.RELEASED_RECORD;
    long id;
    try (PreparedStatement ps =
        c.prepareStatement(
            "INSERT INTO "
                + table
                + " AS p (consumer_name, topic, kafka_partition, ordering_key, state)"
                + " VALUES (?, ?, ?, ?, 'parked')"
                + " ON CONFLICT (consumer_name, topic, kafka_partition, ordering_key) DO UPDATE SET"
                + " state = CASE WHEN ? THEN 'parked' ELSE p.state END,"
                + " release_token = CASE WHEN ? THEN NULL ELSE p.release_token END,"
                + " parked_meanwhile = p.parked_meanwhile OR (p.state = 'releasing' AND NOT ?)"
                + " RETURNING id")) {
      int i = bind(ps, scope);
      ps.setBoolean(i++, releasedRecord);
      ps.setBoolean(i++, releasedRecord);
      ps.setBoolean(i, releasedRecord);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        id = rs.getLong(1);
      }
    }
    try (PreparedStatement ps =
        c.prepareStatement("UPDATE " + deadLetters + " SET parked_key = ? WHERE id = ?")) {
      ps.setLong(1, id);
      ps.setLong(2, deadLetterId);
      ps.executeUpdate();
    }
  }

  /**
   * One released record is done (applied, or skipped as a duplicate). When it was the last one, the
   * row goes, or turns back to parked when records queued up behind the release meanwhile.
   */
  @Override
  public void releasedOne(Connection c, long id) throws SQLException {
    int remaining;
    boolean queued;
    try (PreparedStatement ps =
        c.prepareStatement(
            "UPDATE "
                + table
                + " SET release_remaining = release_remaining - 1 WHERE id = ?"
                + " RETURNING release_remaining, parked_meanwhile")) {
      ps.setLong(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return;
        }
        remaining = rs.getInt(1);
        queued = rs.getBoolean(2);
      }
    }
    if (remaining > 0) {
      return;
    }
    String sql =
        queued
            ? "UPDATE "
                + table
                + " SET state = 'parked', release_token = NULL, parked_meanwhile = false"
                + " WHERE id = ?"
            : "DELETE FROM " + table + " WHERE id = ?";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setLong(1, id);
      ps.executeUpdate();
    }
  }

  /** The ids of the dead letters filed under a parked key, in the order they were written. */
  public List<Long> members(Connection c, long id) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            "SELECT id FROM "
                + deadLetters
                + " WHERE consumer_name = ? AND parked_key = ? ORDER BY id FOR UPDATE")) {
      ps.setString(1, consumerName);
      ps.setLong(2, id);
      List<Long> ids = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getLong(1));
        }
      }
      return ids;
    }
  }

  /** Locks a parked key's row for a replay; false when it is gone. */
  public boolean lock(Connection c, long id) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement("SELECT 1 FROM " + table + " WHERE id = ? FOR UPDATE")) {
      ps.setLong(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  /**
   * Starts releasing {@code count} dead letters of the key under {@code token}; with none left, the
   * key is no longer parked.
   */
  public void release(Connection c, long id, UUID token, int count) throws SQLException {
    String sql =
        count == 0
            ? "DELETE FROM " + table + " WHERE id = ?"
            : "UPDATE "
                + table
                + " SET state = 'releasing', release_token = ?, release_remaining = ?,"
                + " parked_meanwhile = false WHERE id = ?";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      if (count == 0) {
        ps.setLong(1, id);
      } else {
        ps.setObject(1, token);
        ps.setInt(2, count);
        ps.setLong(3, id);
      }
      ps.executeUpdate();
    }
  }

  private int bind(PreparedStatement ps, Scope scope) throws SQLException {
    ps.setString(1, consumerName);
    ps.setString(2, scope.topic());
    ps.setInt(3, scope.partition());
    ps.setBytes(4, scope.orderingKey());
    return 5;
  }
}
