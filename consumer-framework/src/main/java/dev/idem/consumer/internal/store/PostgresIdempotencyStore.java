package dev.idem.consumer.internal.store;

import dev.idem.consumer.OffsetStore;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/**
 * The PostgreSQL implementation of the processing steps: the only place with their SQL.
 *
 * <p>Over 400 lines: every step's statements are built once per consumer here, with the variants
 * that offsets in PostgreSQL add (the done-offset row written by the same statement as the mark),
 * and the binding of coordinates and done-offset runs that the mark, the batch mark and the dead
 * letter share. Split by step, the variants and the bindings would be spelled in several places.
 */
public final class PostgresIdempotencyStore implements IdempotencyStore {
  /** The savepoint of the current record of a grouped transaction. */
  private static final String GROUP_SAVEPOINT = "idem_group_record";

  /** A function scan of unnest returns the elements in array order: locks in ascending order. */
  private static final String LOCK_ALL_SQL =
      "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(?::bigint[]) k";

  private final String consumerName;
  private final TransactionSettings settings;
  private final String markSql;
  private final String beginLockAndMarkSql;
  private final String firstSavepointAndMarkSql;
  private final String nextSavepointAndMarkSql;
  private final String deadLetterSql;
  private final String unidentifiedDeadLetterSql;
  private final String processedKeyConstraint;
  private final String markAllSql;
  private final boolean offsetsInDatabase;

  /**
   * @param schema validated schema identifier
   * @param processedTable validated table identifier
   * @param deadLetterTable validated table identifier
   * @param settings how each transaction begins
   * @param offsets where done offsets are kept: with {@link OffsetStore#POSTGRESQL} every mark and
   *     dead letter also records its record's offset as done
   */
  public PostgresIdempotencyStore(
      String consumerName,
      String schema,
      String processedTable,
      String deadLetterTable,
      TransactionSettings settings,
      OffsetStore offsets) {
    this.consumerName = consumerName;
    this.settings = settings;
    this.offsetsInDatabase = offsets == OffsetStore.POSTGRESQL;
    String doneTable = schema + "." + OffsetRows.DONE_TABLE;
    // A data-modifying CTE runs to completion whether or not the main statement reads it: the
    // record's offset is written in the same statement, and so the same transaction, as the mark.
    String doneOne =
        offsetsInDatabase
            ? "WITH done AS (INSERT INTO "
                + doneTable
                + " (consumer_name, topic, kafka_partition, first_offset, last_offset)"
                + " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING) "
            : "";
    String doneMany =
        offsetsInDatabase
            ? "WITH done AS (INSERT INTO "
                + doneTable
                + " (consumer_name, topic, kafka_partition, first_offset, last_offset)"
                + " SELECT ?, d.t, d.p, d.f, d.l"
                + " FROM unnest(?::text[], ?::int[], ?::bigint[], ?::bigint[]) AS d(t, p, f, l)"
                + " ON CONFLICT DO NOTHING) "
            : "";
    String processed = schema + "." + processedTable;
    String deadLetters = schema + "." + deadLetterTable;
    this.processedKeyConstraint = processedTable + "_pkey";
    // One statement: skip when already dead-lettered, and let the primary key decide the rest.
    // ON CONFLICT DO NOTHING waits for a concurrent uncommitted mark and then does nothing, so a
    // mark that lost a race reads as a duplicate instead of failing.
    this.markSql =
        doneOne
            + "INSERT INTO "
            + processed
            + " (consumer_name, event_id, topic, kafka_partition, kafka_offset)"
            + " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
            + deadLetters
            + " WHERE consumer_name = ? AND event_id = ?)"
            + " ON CONFLICT (consumer_name, event_id) DO NOTHING RETURNING 1";
    this.beginLockAndMarkSql = settings.beginAndLockSql() + "; " + markSql;
    // A fixed savepoint name, not the driver's numbered ones: the texts are the same for every
    // record, so the driver prepares them once per connection.
    this.firstSavepointAndMarkSql = "SAVEPOINT " + GROUP_SAVEPOINT + "; " + markSql;
    this.nextSavepointAndMarkSql =
        "RELEASE SAVEPOINT " + GROUP_SAVEPOINT + "; " + firstSavepointAndMarkSql;
    this.markAllSql =
        doneMany
            + "INSERT INTO "
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
        doneOne
            + "INSERT INTO "
            + deadLetters
            + " (consumer_name, event_id, has_event_id, topic, kafka_partition, kafka_offset,"
            + " record_key, record_value, headers, attempts, delivery_count, reason,"
            + " exception_class, exception_message)"
            + " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?"
            + " WHERE NOT EXISTS (SELECT 1 FROM "
            + processed
            + " WHERE consumer_name = ? AND event_id = ?)"
            + " ON CONFLICT (consumer_name, event_id) WHERE event_id IS NOT NULL"
            + " DO NOTHING RETURNING id";
    // A record without a usable event id: keyed by its coordinates and a digest of its content
    // (the expression of the V2 migration), apart from every event id.
    this.unidentifiedDeadLetterSql =
        doneOne
            + "INSERT INTO "
            + deadLetters
            + " (consumer_name, event_id, has_event_id, topic, kafka_partition, kafka_offset,"
            + " record_key, record_value, headers, record_digest, attempts, delivery_count,"
            + " reason, exception_class, exception_message)"
            + " SELECT ?, NULL, false, ?, ?, ?, r.k, r.v, r.h, sha256("
            + "int4send(coalesce(length(r.k), -1)) || coalesce(r.k, '\\x'::bytea)"
            + " || int4send(coalesce(length(r.v), -1)) || coalesce(r.v, '\\x'::bytea)"
            + " || convert_to(r.h::text, 'UTF8')), ?, ?, ?, ?, ?"
            + " FROM (SELECT ?::bytea AS k, ?::bytea AS v, ?::jsonb AS h) r"
            + " ON CONFLICT (consumer_name, topic, kafka_partition, kafka_offset, record_digest)"
            + " WHERE event_id IS NULL DO NOTHING RETURNING id";
  }

  @Override
  public void begin(Connection c) throws SQLException {
    settings.begin(c);
  }

  @Override
  public void beginAndLock(Connection c, long key) throws SQLException {
    settings.beginAndLock(c, key);
  }

  @Override
  public void lock(Connection c, long key) throws SQLException {
    settings.lock(c, key);
  }

  @Override
  public boolean markIfNew(Connection c, String eventId, RecordCoordinates origin)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(markSql)) {
      setMark(ps, 1, eventId, origin);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  @Override
  public boolean beginLockAndMark(Connection c, long key, String eventId, RecordCoordinates origin)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(beginLockAndMarkSql)) {
      ps.setLong(1, key);
      setMark(ps, 2, eventId, origin);
      return lastHasRow(ps);
    }
  }

  @Override
  public boolean savepointAndMark(
      Connection c, PreviousSavepoint previous, String eventId, RecordCoordinates origin)
      throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(
            previous == PreviousSavepoint.OPEN
                ? nextSavepointAndMarkSql
                : firstSavepointAndMarkSql)) {
      setMark(ps, 1, eventId, origin);
      return lastHasRow(ps);
    }
  }

  @Override
  public void rollbackToSavepoint(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("ROLLBACK TO SAVEPOINT " + GROUP_SAVEPOINT);
    }
  }

  @Override
  public void beginAndLockAll(Connection c, int records, long[] sortedKeys) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(settings.forRecords(records).beginSql() + "; " + LOCK_ALL_SQL)) {
      ps.setArray(1, keyArray(c, sortedKeys));
      ps.execute();
    }
  }

  /**
   * Executes a text of several statements sent in one round trip and tells whether the last one, a
   * mark, returned a row. A statement that fails (a lock timeout) throws here, and the server skips
   * the ones after it.
   */
  private static boolean lastHasRow(PreparedStatement ps) throws SQLException {
    boolean isResultSet = ps.execute();
    Boolean row = null;
    while (isResultSet || ps.getUpdateCount() != -1) {
      if (isResultSet) {
        try (ResultSet rs = ps.getResultSet()) {
          row = rs.next();
        }
      }
      isResultSet = ps.getMoreResults();
    }
    if (row == null) {
      throw new SQLException("the mark statement returned no result set");
    }
    return row;
  }

  /** Binds the mark statement's parameters from {@code first} on. */
  private void setMark(PreparedStatement ps, int first, String eventId, RecordCoordinates origin)
      throws SQLException {
    int i = setDone(ps, first, origin);
    ps.setString(i++, consumerName);
    ps.setString(i++, eventId);
    ps.setString(i++, origin.topic());
    ps.setInt(i++, origin.partition());
    ps.setLong(i++, origin.offset());
    ps.setString(i++, consumerName);
    ps.setString(i, eventId);
  }

  private static Array keyArray(Connection c, long[] keys) throws SQLException {
    Long[] boxed = new Long[keys.length];
    for (int i = 0; i < keys.length; i++) {
      boxed[i] = keys[i];
    }
    return c.createArrayOf("int8", boxed);
  }

  @Override
  public Set<String> markAllIfNew(
      Connection c,
      List<String> eventIds,
      List<RecordCoordinates> origins,
      List<RecordCoordinates> done)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(markAllSql)) {
      int i = 1;
      if (offsetsInDatabase) {
        ps.setString(i++, consumerName);
        i = setRuns(c, ps, i, done);
      }
      ps.setString(i++, consumerName);
      ps.setArray(i++, c.createArrayOf("text", eventIds.toArray()));
      i = setCoordinates(c, ps, i, origins);
      ps.setString(i, consumerName);
      Set<String> marked = new HashSet<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          marked.add(rs.getString(1));
        }
      }
      return marked;
    }
  }

  /**
   * Binds the done-offset row of the CTE, if any, from parameter {@code first} on; returns the next
   * parameter index.
   */
  private int setDone(PreparedStatement ps, int first, RecordCoordinates origin)
      throws SQLException {
    if (!offsetsInDatabase) {
      return first;
    }
    ps.setString(first, consumerName);
    ps.setString(first + 1, origin.topic());
    ps.setInt(first + 2, origin.partition());
    ps.setLong(first + 3, origin.offset());
    ps.setLong(first + 4, origin.offset());
    return first + 5;
  }

  /** Binds topics, partitions and offsets as three arrays; returns the next parameter index. */
  static int setCoordinates(
      Connection c, PreparedStatement ps, int index, List<RecordCoordinates> coordinates)
      throws SQLException {
    int n = coordinates.size();
    String[] topics = new String[n];
    Integer[] partitions = new Integer[n];
    Long[] offsets = new Long[n];
    for (int i = 0; i < n; i++) {
      RecordCoordinates o = coordinates.get(i);
      topics[i] = o.topic();
      partitions[i] = o.partition();
      offsets[i] = o.offset();
    }
    ps.setArray(index, c.createArrayOf("text", topics));
    ps.setArray(index + 1, c.createArrayOf("int4", partitions));
    ps.setArray(index + 2, c.createArrayOf("int8", offsets));
    return index + 3;
  }

  /**
   * Binds {@code done} as runs of adjacent offsets per partition (topics, partitions, first and
   * last offsets: four arrays), so a batch of consecutive records is one row; returns the next
   * index.
   */
  private static int setRuns(
      Connection c, PreparedStatement ps, int index, List<RecordCoordinates> done)
      throws SQLException {
    List<RecordCoordinates> sorted = new ArrayList<>(done);
    sorted.sort(
        Comparator.comparing(RecordCoordinates::topic)
            .thenComparingInt(RecordCoordinates::partition)
            .thenComparingLong(RecordCoordinates::offset));
    List<String> topics = new ArrayList<>();
    List<Integer> partitions = new ArrayList<>();
    List<Long> firsts = new ArrayList<>();
    List<Long> lasts = new ArrayList<>();
    for (RecordCoordinates r : sorted) {
      int last = lasts.size() - 1;
      if (last >= 0
          && topics.get(last).equals(r.topic())
          && partitions.get(last) == r.partition()
          && lasts.get(last) >= r.offset() - 1) {
        lasts.set(last, Math.max(lasts.get(last), r.offset()));
      } else {
        topics.add(r.topic());
        partitions.add(r.partition());
        firsts.add(r.offset());
        lasts.add(r.offset());
      }
    }
    ps.setArray(index, c.createArrayOf("text", topics.toArray()));
    ps.setArray(index + 1, c.createArrayOf("int4", partitions.toArray()));
    ps.setArray(index + 2, c.createArrayOf("int8", firsts.toArray()));
    ps.setArray(index + 3, c.createArrayOf("int8", lasts.toArray()));
    return index + 4;
  }

  @Override
  public Long deadLetter(Connection c, DeadLetter letter) throws SQLException {
    if (!letter.hasEventId()) {
      return deadLetterUnidentified(c, letter);
    }
    try (PreparedStatement ps = c.prepareStatement(deadLetterSql)) {
      int i = setDone(ps, 1, letter.origin());
      ps.setString(i++, consumerName);
      ps.setString(i++, letter.eventId());
      ps.setBoolean(i++, true);
      ps.setString(i++, letter.origin().topic());
      ps.setInt(i++, letter.origin().partition());
      ps.setLong(i++, letter.origin().offset());
      ps.setBytes(i++, letter.key());
      ps.setBytes(i++, letter.value());
      ps.setString(i++, letter.headersJson());
      i = setFailure(ps, i, letter);
      ps.setString(i++, consumerName);
      ps.setString(i, letter.eventId());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : null;
      }
    }
  }

  private Long deadLetterUnidentified(Connection c, DeadLetter letter) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(unidentifiedDeadLetterSql)) {
      int i = setDone(ps, 1, letter.origin());
      ps.setString(i++, consumerName);
      ps.setString(i++, letter.origin().topic());
      ps.setInt(i++, letter.origin().partition());
      ps.setLong(i++, letter.origin().offset());
      i = setFailure(ps, i, letter);
      ps.setBytes(i++, letter.key());
      ps.setBytes(i++, letter.value());
      ps.setString(i, letter.headersJson());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : null;
      }
    }
  }

  /**
   * Binds attempts, delivery count, reason, exception class and message; returns the next parameter
   * index.
   */
  private static int setFailure(PreparedStatement ps, int i, DeadLetter letter)
      throws SQLException {
    ps.setInt(i++, letter.attempts());
    ps.setObject(i++, letter.deliveryCount(), Types.INTEGER);
    ps.setString(i++, letter.reason());
    ps.setString(i++, letter.exceptionClass());
    ps.setString(i++, letter.exceptionMessage());
    return i;
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
