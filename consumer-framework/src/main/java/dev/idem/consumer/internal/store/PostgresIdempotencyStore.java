package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/** The PostgreSQL implementation of the processing steps: the only place with their SQL. */
public final class PostgresIdempotencyStore implements IdempotencyStore {
  private final String consumerName;
  private final String beginSql;
  private final String settingsSelect;
  private final String markSql;
  private final String deadLetterSql;
  private final String processedKeyConstraint;
  private final String markAllSql;

  /**
   * @param schema validated schema identifier
   * @param processedTable validated table identifier
   * @param deadLetterTable validated table identifier
   * @param transactionTimeout whether the server has {@code transaction_timeout} (17+)
   */
  public PostgresIdempotencyStore(
      String consumerName,
      String schema,
      String processedTable,
      String deadLetterTable,
      Duration lockTimeout,
      Duration handlerTimeout,
      boolean transactionTimeout) {
    this.consumerName = consumerName;
    String processed = schema + "." + processedTable;
    String deadLetters = schema + "." + deadLetterTable;
    this.processedKeyConstraint = processedTable + "_pkey";
    // Sent as one round trip. Values are validated durations, not user text.
    // Two statements: the isolation level must be set before the transaction's first query;
    // the transaction-local settings then travel in one SELECT. Values are validated durations.
    StringBuilder settings =
        new StringBuilder("SELECT set_config('lock_timeout', '")
            .append(lockTimeout.toMillis())
            .append("ms', true), set_config('statement_timeout', '")
            .append(handlerTimeout.toMillis())
            .append("ms', true), set_config('idle_in_transaction_session_timeout', '")
            .append(handlerTimeout.toMillis())
            .append("ms', true), set_config('synchronous_commit', 'on', true)");
    if (transactionTimeout) {
      settings
          .append(", set_config('transaction_timeout', '")
          .append(lockTimeout.plus(handlerTimeout).toMillis())
          .append("ms', true)");
    }
    this.beginSql = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; " + settings;
    this.settingsSelect = settings.toString();
    // One statement: skip when already dead-lettered, and let the primary key decide the rest.
    // ON CONFLICT DO NOTHING waits for a concurrent uncommitted mark and then does nothing, so a
    // mark that lost a race reads as a duplicate instead of failing.
    this.markSql =
        "INSERT INTO "
            + processed
            + " (consumer_name, event_id, topic, kafka_partition, kafka_offset)"
            + " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
            + deadLetters
            + " WHERE consumer_name = ? AND event_id = ?)"
            + " ON CONFLICT (consumer_name, event_id) DO NOTHING RETURNING 1";
    this.markAllSql =
        "INSERT INTO "
            + processed
            + " (consumer_name, event_id, topic, kafka_partition, kafka_offset)"
            + " SELECT ?, e.id, e.topic, e.part, e.off"
            + " FROM unnest(?::text[], ?::text[], ?::int[], ?::bigint[]) AS e(id, topic, part, off)"
            + " WHERE NOT EXISTS (SELECT 1 FROM "
            + deadLetters
            + " d"
            + " WHERE d.consumer_name = ? AND d.event_id = e.id)"
            + " ON CONFLICT (consumer_name, event_id) DO NOTHING RETURNING event_id";
    this.deadLetterSql =
        "INSERT INTO "
            + deadLetters
            + " (consumer_name, event_id, has_event_id, topic, kafka_partition, kafka_offset,"
            + " record_key, record_value, headers, attempts, reason, exception_class,"
            + " exception_message)"
            + " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?"
            + " WHERE NOT EXISTS (SELECT 1 FROM "
            + processed
            + " WHERE consumer_name = ? AND event_id = ?)"
            + " ON CONFLICT (consumer_name, event_id) DO NOTHING RETURNING 1";
  }

  @Override
  public void begin(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute(beginSql);
    }
  }

  @Override
  public void beginAndLock(Connection c, long key) throws SQLException {
    // The key is a number, never user text. The lock stays a statement of its own: under READ
    // COMMITTED the next statement takes a fresh snapshot, which sees a mark committed meanwhile.
    try (Statement s = c.createStatement()) {
      // The settings take effect before the lock function runs: select-list items are evaluated
      // in order, so the lock wait is bounded by the lock_timeout just set.
      s.execute(
          "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; "
              + settingsSelect
              + ", pg_advisory_xact_lock("
              + key
              + ")");
    }
  }

  @Override
  public void lock(Connection c, long key) throws SQLException {
    // Its own statement: under READ COMMITTED the next statement takes a fresh snapshot, which
    // sees a mark committed by the copy we waited for.
    try (PreparedStatement ps = c.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
      ps.setLong(1, key);
      ps.execute();
    }
  }

  @Override
  public boolean markIfNew(Connection c, String eventId, RecordCoordinates origin)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(markSql)) {
      ps.setString(1, consumerName);
      ps.setString(2, eventId);
      ps.setString(3, origin.topic());
      ps.setInt(4, origin.partition());
      ps.setLong(5, origin.offset());
      ps.setString(6, consumerName);
      ps.setString(7, eventId);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  @Override
  public void lockAll(Connection c, long[] sortedKeys) throws SQLException {
    // A function scan of unnest returns the elements in array order, so the locks are taken in
    // ascending order.
    try (PreparedStatement ps =
        c.prepareStatement("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(?::bigint[]) k")) {
      Long[] boxed = new Long[sortedKeys.length];
      for (int i = 0; i < sortedKeys.length; i++) {
        boxed[i] = sortedKeys[i];
      }
      ps.setArray(1, c.createArrayOf("int8", boxed));
      ps.execute();
    }
  }

  @Override
  public java.util.Set<String> markAllIfNew(
      Connection c, java.util.List<String> eventIds, java.util.List<RecordCoordinates> origins)
      throws SQLException {
    int n = eventIds.size();
    String[] topics = new String[n];
    Integer[] partitions = new Integer[n];
    Long[] offsets = new Long[n];
    for (int i = 0; i < n; i++) {
      RecordCoordinates o = origins.get(i);
      topics[i] = o.topic();
      partitions[i] = o.partition();
      offsets[i] = o.offset();
    }
    try (PreparedStatement ps = c.prepareStatement(markAllSql)) {
      ps.setString(1, consumerName);
      ps.setArray(2, c.createArrayOf("text", eventIds.toArray()));
      ps.setArray(3, c.createArrayOf("text", topics));
      ps.setArray(4, c.createArrayOf("int4", partitions));
      ps.setArray(5, c.createArrayOf("int8", offsets));
      ps.setString(6, consumerName);
      java.util.Set<String> marked = new java.util.HashSet<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          marked.add(rs.getString(1));
        }
      }
      return marked;
    }
  }

  @Override
  public boolean deadLetter(Connection c, DeadLetter letter) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(deadLetterSql)) {
      int i = 1;
      ps.setString(i++, consumerName);
      ps.setString(i++, letter.eventId());
      ps.setBoolean(i++, letter.hasEventId());
      ps.setString(i++, letter.origin().topic());
      ps.setInt(i++, letter.origin().partition());
      ps.setLong(i++, letter.origin().offset());
      ps.setBytes(i++, letter.key());
      ps.setBytes(i++, letter.value());
      ps.setString(i++, letter.headersJson());
      ps.setInt(i++, letter.attempts());
      ps.setString(i++, letter.reason());
      ps.setString(i++, letter.exceptionClass());
      ps.setString(i++, letter.exceptionMessage());
      ps.setString(i++, consumerName);
      ps.setString(i, letter.eventId());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  @Override
  public boolean isProcessedKeyViolation(SQLException e) {
    if (!"23505".equals(e.getSQLState())) {
      return false;
    }
    if (e instanceof PSQLException psql) {
      ServerErrorMessage m = psql.getServerErrorMessage();
      return m != null && processedKeyConstraint.equals(m.getConstraint());
    }
    return false;
  }
}
