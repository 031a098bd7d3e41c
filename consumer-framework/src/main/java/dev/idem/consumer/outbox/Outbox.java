package dev.idem.consumer.outbox;

import dev.idem.consumer.BatchContext;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.ProcessingContext;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.internal.store.OutboxRows;
import dev.idem.lock.LockKey;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * The transactional outbox: {@link #publish} writes a record to publish on the caller's connection,
 * in the caller's transaction, so it commits or rolls back with the change it announces; {@link
 * OutboxRelay} publishes committed records to Kafka, at least once, in commit order per key, each
 * with its event id for downstream deduplication. See {@code docs/outbox.md}.
 *
 * <pre>{@code
 * Outbox outbox = Outbox.builder().build();
 * outbox.applySchema(dataSource);
 * try (Connection c = dataSource.getConnection()) {
 *   c.setAutoCommit(false);
 *   applyPayment(c, payment);
 *   outbox.publish(c, OutboxRecord.of("payment-applied:" + payment.id(), "payments.applied",
 *       payment.account().getBytes(UTF_8), json));
 *   c.commit();
 * }
 * }</pre>
 *
 * <p>Commit order per key: {@code publish} first takes a transaction-scoped advisory lock on the
 * record's (topic, key) (namespace {@value #LOCK_NAMESPACE}), so a second transaction publishing
 * for the same key waits until the first commits or rolls back, and the rows of one key take their
 * ids in commit order. Keep such transactions short: the lock is held until commit.
 */
public final class Outbox {
  /** The header that carries a published record's event id. */
  public static final String EVENT_ID_HEADER = "idem-event-id";

  /** The advisory-lock namespace of the per-key order. */
  public static final String LOCK_NAMESPACE = "idem.outbox";

  /** The default of {@link Builder#maxRecordBytes}. */
  public static final int DEFAULT_MAX_RECORD_BYTES = 1_000_000;

  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

  private final String schema;
  private final String table;
  private final int maxRecordBytes;
  private final OutboxRows rows;

  private Outbox(String schema, String table, int maxRecordBytes) {
    this.schema = schema;
    this.table = table;
    this.maxRecordBytes = maxRecordBytes;
    this.rows = new OutboxRows(schema, table);
  }

  /** The table's statements. */
  OutboxRows rows() {
    return rows;
  }

  /** An outbox in schema {@code idem}, table {@code outbox}. */
  public static Builder builder() {
    return new Builder();
  }

  /** The schema. */
  public String schema() {
    return schema;
  }

  /** The table. */
  public String table() {
    return table;
  }

  /** Creates or upgrades the outbox table (idempotent; serialized among instances). */
  public void applySchema(DataSource dataSource) {
    ConsumerSchemas.outbox(schema, table).migrate(dataSource);
  }

  /**
   * Writes {@code record} on {@code transaction}: it is published once the transaction commits, and
   * never if it rolls back.
   *
   * @throws IllegalStateException when {@code transaction} is in auto-commit mode: the record would
   *     be committed on its own, and the per-key lock released before it
   * @throws OutboxRecordTooLargeException when the record is larger than {@code maxRecordBytes}
   *     (nothing is written)
   * @throws SQLException from the insert; a duplicate event id is a unique violation (SQLState
   *     23505)
   */
  public void publish(Connection transaction, OutboxRecord record) throws SQLException {
    if (transaction.getAutoCommit()) {
      throw new IllegalStateException(
          "Outbox.publish needs the caller's transaction: the connection is in auto-commit mode");
    }
    refuseTooLarge(record);
    List<String> names = new ArrayList<>(record.headers().size());
    List<byte[]> values = new ArrayList<>(record.headers().size());
    for (Map.Entry<String, byte[]> h : record.headers().entrySet()) {
      names.add(h.getKey());
      values.add(h.getValue());
    }
    LockKey lock = orderLock(record.topic(), record.key());
    rows.insert(
        transaction,
        record.eventId(),
        record.topic(),
        record.key(),
        record.value(),
        names.toArray(String[]::new),
        values.toArray(new byte[0][]),
        lock != null,
        lock == null ? 0 : lock.classId(),
        lock == null ? 0 : lock.objectId());
  }

  /**
   * Writes several records on {@code transaction}, taking their keys' order locks in one order that
   * every {@code publishAll} uses (the lock keys' order) instead of the list's: two transactions
   * that publish for the same keys in different orders would otherwise each hold a lock the other
   * waits for, and PostgreSQL ends one of them with a deadlock error after {@code
   * deadlock_timeout}. Records of one key keep their order in the list. For a batch handler that
   * publishes for many keys, this is the call to use; it protects only transactions that take their
   * outbox locks through one {@code publishAll} (a {@code publish} before it can still take a lock
   * out of order).
   *
   * @throws OutboxRecordTooLargeException when a record is larger than {@code maxRecordBytes}
   *     (nothing of the list is written)
   * @throws SQLException from the inserts
   */
  public void publishAll(Connection transaction, List<OutboxRecord> records) throws SQLException {
    for (OutboxRecord r : records) {
      refuseTooLarge(r);
    }
    List<OutboxRecord> ordered = new ArrayList<>(records);
    // Stable: one key's records keep their order. Unkeyed records take no lock; they go last.
    ordered.sort(
        Comparator.comparing(
            (OutboxRecord r) -> orderLock(r.topic(), r.key()),
            Comparator.nullsLast(Comparator.comparingLong(LockKey::value))));
    for (OutboxRecord r : ordered) {
      publish(transaction, r);
    }
  }

  /**
   * From a batch handler: the record to publish for the batch's event {@code source}, its event id
   * derived as {@link #publish(BatchContext, BatchEvent, String, String, byte[], byte[])} derives
   * it; for {@link #publishAll}.
   */
  public static OutboxRecord record(
      BatchContext ctx, BatchEvent<?> source, String name, String topic, byte[] key, byte[] value) {
    return OutboxRecord.of(
        derivedEventId(ctx.consumerName(), source.eventId(), name), topic, key, value);
  }

  private void refuseTooLarge(OutboxRecord record) {
    long size = size(record);
    if (size > maxRecordBytes) {
      throw new OutboxRecordTooLargeException(record.eventId(), size, maxRecordBytes);
    }
  }

  /** The record as the relay sends it: key, value, headers and the event id header, in bytes. */
  private static long size(OutboxRecord record) {
    long size = length(record.key()) + length(record.value());
    for (Map.Entry<String, byte[]> h : record.headers().entrySet()) {
      size += h.getKey().getBytes(StandardCharsets.UTF_8).length + length(h.getValue());
    }
    return size
        + EVENT_ID_HEADER.length()
        + record.eventId().getBytes(StandardCharsets.UTF_8).length;
  }

  private static int length(byte[] bytes) {
    return bytes == null ? 0 : bytes.length;
  }

  /**
   * From a handler: writes a record in the handler's transaction, its event id derived from the
   * consumer, the source event and {@code name} (see {@link #derivedEventId}), so that a retry of
   * the handler writes the same id and two consumers publishing for one source event do not
   * collide. Give each publish of one handler call its own {@code name} ("applied", "notify"): a
   * second publish with the same name is a unique violation.
   */
  public void publish(ProcessingContext ctx, String name, String topic, byte[] key, byte[] value)
      throws SQLException {
    publish(ctx, name, topic, key, value, Map.of());
  }

  /** As {@link #publish(ProcessingContext, String, String, byte[], byte[])}, with headers. */
  public void publish(
      ProcessingContext ctx,
      String name,
      String topic,
      byte[] key,
      byte[] value,
      Map<String, byte[]> headers)
      throws SQLException {
    publish(
        ctx.connection(),
        new OutboxRecord(
            derivedEventId(ctx.consumerName(), ctx.eventId(), name), topic, key, value, headers));
  }

  /**
   * From a batch handler: as {@link #publish(ProcessingContext, String, String, byte[], byte[])},
   * for the batch's event {@code source}.
   */
  public void publish(
      BatchContext ctx, BatchEvent<?> source, String name, String topic, byte[] key, byte[] value)
      throws SQLException {
    publish(ctx.connection(), record(ctx, source, name, topic, key, value));
  }

  /**
   * The event id of a record published by consumer {@code consumer} for source event {@code
   * sourceEventId} under {@code name}: {@code <consumer>/<source event id>/<name>}, or {@code
   * sha256:<hex>} of that text when a part contains {@code /} or the text is too long for an event
   * id.
   */
  public static String derivedEventId(String consumer, String sourceEventId, String name) {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("an outbox publish from a handler needs a name");
    }
    String id = consumer + "/" + sourceEventId + "/" + name;
    boolean plain =
        consumer.indexOf('/') < 0
            && sourceEventId.indexOf('/') < 0
            && name.indexOf('/') < 0
            && EventIds.problem(id) == null;
    return plain ? id : "sha256:" + HexFormat.of().formatHex(sha256(id));
  }

  private static byte[] sha256(String text) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  /** The lock of a key's order; null for a record without a key (no order is promised). */
  static LockKey orderLock(String topic, byte[] key) {
    return key == null
        ? null
        : LockKey.of(LOCK_NAMESPACE, topic + "\u0000" + HexFormat.of().formatHex(key));
  }

  /** Settings of an {@link Outbox}. */
  public static final class Builder {
    private String schema = "idem";
    private String table = "outbox";
    private int maxRecordBytes = Outbox.DEFAULT_MAX_RECORD_BYTES;

    private Builder() {}

    /**
     * The largest record {@code publish} accepts, key, value and headers together (default {@value
     * Outbox#DEFAULT_MAX_RECORD_BYTES}, under the producer's default {@code max.request.size} of 1
     * MiB and the broker's default {@code message.max.bytes}). A larger one is refused at publish
     * time ({@link OutboxRecordTooLargeException}), not found by the relay when the broker refuses
     * it and everything behind it waits. Lower it to the topics' {@code max.message.bytes} when
     * they are smaller.
     */
    public Builder maxRecordBytes(int bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("outbox maxRecordBytes must be positive");
      }
      this.maxRecordBytes = bytes;
      return this;
    }

    /** The schema of the outbox table (default {@code idem}). */
    public Builder schema(String schema) {
      this.schema = identifier("schema", schema);
      return this;
    }

    /** The outbox table (default {@code outbox}); one table can serve many writers. */
    public Builder table(String table) {
      this.table = identifier("table", table);
      return this;
    }

    public Outbox build() {
      return new Outbox(schema, table, maxRecordBytes);
    }

    private static String identifier(String what, String value) {
      if (value == null || !IDENTIFIER.matcher(value).matches()) {
        throw new IllegalArgumentException(
            "outbox "
                + what
                + " '"
                + value
                + "' is not allowed: use a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most"
                + " 63 characters)");
      }
      return value;
    }
  }
}
