package dev.idem.consumer.internal.tx;

import dev.idem.consumer.EventHandler;
import dev.idem.consumer.EventIdExtractor;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.PayloadDeserializer;
import dev.idem.consumer.TransactionMisuseException;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.store.DeadLetter;
import dev.idem.consumer.internal.store.HeadersJson;
import dev.idem.consumer.internal.store.KeyParking;
import dev.idem.consumer.internal.store.ParkedKeys;
import dev.idem.consumer.internal.store.RecordCoordinates;
import dev.idem.internal.jdbc.Transactions;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One attempt at one record: the processing contract of {@code docs/processing.md}, in one
 * transaction on one pooled connection ({@code docs/architecture.md} follows a record through the
 * code). Thread-safe; called from worker threads.
 *
 * @param <T> the payload type
 */
public final class RecordProcessor<T> implements RecordAttempts<T> {
  private static final Logger log = LoggerFactory.getLogger(RecordProcessor.class);
  private static final int MAX_MESSAGE_CHARS = 4096;

  /** The dead-letter reason of a record queued behind its parked key. */
  public static final String PARKED_REASON = "parked";

  /** The header a replay of a parked key puts on the records it releases: the release's token. */
  public static final String RELEASE_HEADER = "idem.release";

  private final TxEnvironment env;
  private final EventIdExtractor eventIds;
  private final PayloadDeserializer<T> payloads;
  private final EventHandler<T> handler;
  private final DeadLetterPublisher deadLetterPublisher;
  private final KeyParking parking;

  /**
   * @param parking what a dead letter means for its key: {@link KeyParking#SKIP}, or the SQL of
   *     parked keys in park-key mode
   */
  public RecordProcessor(
      TxEnvironment env,
      EventIdExtractor eventIds,
      PayloadDeserializer<T> payloads,
      EventHandler<T> handler,
      DeadLetterPublisher deadLetterPublisher,
      KeyParking parking) {
    this.env = env;
    this.eventIds = eventIds;
    this.payloads = payloads;
    this.handler = handler;
    this.deadLetterPublisher = deadLetterPublisher;
    this.parking = parking;
  }

  @Override
  public ParkedKeys.Scope parkScope(ConsumerRecord<byte[], byte[]> record, Object orderingKey) {
    return parking.scope(record.topic(), record.partition(), orderingKey);
  }

  @Override
  public Read<T> read(ConsumerRecord<byte[], byte[]> record) {
    String id;
    try {
      id = eventIds.eventId(record);
    } catch (Exception | Error e) {
      Failures.rethrowIfFatal(e);
      return Read.failed(record, null, Read.INVALID_EVENT_ID, e);
    }
    String problem = EventIds.problem(id);
    if (problem != null) {
      return Read.failed(
          record, null, Read.INVALID_EVENT_ID, new IllegalArgumentException("event id " + problem));
    }
    try {
      return Read.ok(record, id, payloads.deserialize(record));
    } catch (Exception | Error e) {
      Failures.rethrowIfFatal(e);
      return Read.failed(record, id, Read.UNDESERIALIZABLE, e);
    }
  }

  @Override
  public Outcome process(
      ConsumerRecord<byte[], byte[]> record, int attempt, ParkedKeys.Scope scope) {
    return env.observe(
        Unit.record(record, attempt, null),
        () -> {
          Read<T> read = read(record);
          if (read.failure() != null) {
            return Outcome.unreadable(read.eventId(), read.reason(), read.failure());
          }
          Outcome outcome = transact(read, attempt, scope);
          if (outcome.kind() == Outcome.Kind.PROCESSED) {
            env.faults().afterDatabaseCommit(record);
          }
          return outcome;
        });
  }

  private Outcome transact(Read<T> read, int attempt, ParkedKeys.Scope scope) {
    ConsumerRecord<byte[], byte[]> record = read.record();
    String eventId = read.eventId();
    Attempted<Outcome.Kind> tx =
        env.transact(
            Unit.record(record, attempt, eventId), open -> steps(open, read, attempt, scope));
    if (!tx.ok()) {
      return Outcome.failed(eventId, tx.failure());
    }
    switch (tx.value()) {
      case DUPLICATE -> env.metrics().duplicate(record.topic());
      case PARKED -> env.metrics().parked(record.topic());
      default -> env.metrics().processed(record.topic());
    }
    return Outcome.of(tx.value(), eventId);
  }

  /**
   * The steps inside the transaction: settings and lock, (in park-key mode) the key's parking,
   * check and mark, handler.
   */
  private Outcome.Kind steps(OpenTransaction tx, Read<T> read, int attempt, ParkedKeys.Scope scope)
      throws Exception {
    Connection c = tx.connection();
    ConsumerRecord<byte[], byte[]> record = read.record();
    String topic = record.topic();
    long key = env.keys().key(env.lockNamespace(), read.eventId());
    long lockStart = System.nanoTime();
    if (scope == null) {
      // No parked keys to look up between the lock and the mark: settings, lock, check and mark
      // in one round trip (the lock-wait timer then includes the mark).
      boolean fresh;
      try {
        fresh = env.store().beginLockAndMark(c, key, read.eventId(), RecordCoordinates.of(record));
      } catch (SQLException e) {
        throw EventLockTimeout.whileLocking(
            e, "event id " + read.eventId(), System.nanoTime() - lockStart);
      }
      env.metrics().lockWait(topic, System.nanoTime() - lockStart);
      if (!fresh) {
        return Outcome.Kind.DUPLICATE;
      }
      handle(tx, read, attempt);
      return Outcome.Kind.PROCESSED;
    }
    try {
      env.store().beginAndLock(c, key);
    } catch (SQLException e) {
      throw EventLockTimeout.whileLocking(
          e, "event id " + read.eventId(), System.nanoTime() - lockStart);
    }
    env.metrics().lockWait(topic, System.nanoTime() - lockStart);
    ParkedKeys.Parked parked = parking.lookup(c, scope);
    boolean released = isReleased(record, parked);
    if (parked != null && !released) {
      // Its key is parked behind an earlier dead letter: it queues there, in order.
      Long id =
          env.store().deadLetter(c, letter(record, read.eventId(), PARKED_REASON, attempt, null));
      if (id == null) {
        return Outcome.Kind.DUPLICATE;
      }
      parking.park(c, scope, id, KeyParking.Arrival.QUEUED);
      return Outcome.Kind.PARKED;
    }
    if (!env.store().markIfNew(c, read.eventId(), RecordCoordinates.of(record))) {
      if (released) {
        parking.releasedOne(c, parked.id());
      }
      return Outcome.Kind.DUPLICATE;
    }
    handle(tx, read, attempt);
    if (released) {
      parking.releasedOne(c, parked.id());
    }
    return Outcome.Kind.PROCESSED;
  }

  /**
   * Calls the handler for {@code read} in {@code tx}, then makes sure the handler (and the hook's
   * work after it) left the transaction open and not aborted.
   *
   * @throws TransactionMisuseException when the handler ended the transaction or swallowed an SQL
   *     error
   */
  void handle(OpenTransaction tx, Read<T> read, int attempt) throws Exception {
    ConsumerRecord<byte[], byte[]> record = read.record();
    String topic = record.topic();
    env.callHandler(
        tx,
        owner(read),
        topic,
        guarded ->
            handler.handle(
                read.payload(),
                new RecordTransactionContext(
                    env.consumerName(), read.eventId(), record, attempt, guarded)),
        e -> misuseOf(read, e));
  }

  /**
   * The failure of a record whose handler (or the hook after it) ended or aborted the transaction.
   */
  static TransactionMisuseException misuseOf(
      Read<?> read, Transactions.TransactionStateException e) {
    ConsumerRecord<byte[], byte[]> record = read.record();
    return new TransactionMisuseException(
        misuse(e), record.topic(), record.partition(), record.offset(), read.eventId(), null);
  }

  /**
   * The failure of a record found with its transaction in {@code state} (not open) after its
   * handler call was over.
   */
  static TransactionMisuseException misuseOf(Read<?> read, Transactions.State state) {
    ConsumerRecord<byte[], byte[]> record = read.record();
    return new TransactionMisuseException(
        state == Transactions.State.IDLE
            ? TransactionMisuseException.Misuse.ENDED_TRANSACTION
            : TransactionMisuseException.Misuse.SWALLOWED_SQL_ERROR,
        record.topic(),
        record.partition(),
        record.offset(),
        read.eventId(),
        null);
  }

  /**
   * The handler call of {@code read}, as the exception of a use of its expired connection names it.
   */
  private static String owner(Read<?> read) {
    ConsumerRecord<byte[], byte[]> record = read.record();
    return "event id "
        + read.eventId()
        + " ("
        + record.topic()
        + "-"
        + record.partition()
        + "@"
        + record.offset()
        + ")";
  }

  /** Whether {@code record} is one that a replay of its parked key is releasing now. */
  private static boolean isReleased(ConsumerRecord<byte[], byte[]> record, ParkedKeys.Parked p) {
    if (p == null || !p.releasing() || p.token() == null) {
      return false;
    }
    Header h = record.headers().lastHeader(RELEASE_HEADER);
    return h != null
        && h.value() != null
        && p.token().toString().equals(new String(h.value(), StandardCharsets.UTF_8));
  }

  static TransactionMisuseException.Misuse misuse(Transactions.TransactionStateException e) {
    return e.state() == Transactions.State.IDLE
        ? TransactionMisuseException.Misuse.ENDED_TRANSACTION
        : TransactionMisuseException.Misuse.SWALLOWED_SQL_ERROR;
  }

  @Override
  public Outcome deadLetter(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure,
      ParkedKeys.Scope scope) {
    return env.observe(
        Unit.deadLetter(record, attempts, eventId),
        () -> deadLetterUnobserved(record, eventId, reason, attempts, failure, scope));
  }

  private Outcome deadLetterUnobserved(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure,
      ParkedKeys.Scope scope) {
    DeadLetter letter = letter(record, eventId, reason, attempts, failure);
    env.faults().transactionStarted(record);
    try {
      boolean written =
          env.runner()
              .run(
                  c -> {
                    if (eventId != null) {
                      env.store().beginAndLock(c, env.keys().key(env.lockNamespace(), eventId));
                    } else {
                      // No id, no copies elsewhere to wait for: the row's unique key decides.
                      env.store().begin(c);
                    }
                    ParkedKeys.Parked parked = scope == null ? null : parking.lookup(c, scope);
                    Long id = env.store().deadLetter(c, letter);
                    if (id == null) {
                      return false;
                    }
                    if (scope != null) {
                      parking.park(
                          c,
                          scope,
                          id,
                          isReleased(record, parked)
                              ? KeyParking.Arrival.RELEASED_RECORD
                              : KeyParking.Arrival.QUEUED);
                    }
                    // Inside the transaction: a failed publish rolls the row back and the record
                    // is retried; a failed commit after a publish repeats the publish (at least
                    // once).
                    deadLetterPublisher.publish(record, letter);
                    return true;
                  });
      if (written) {
        env.metrics().deadLettered(record.topic());
        log.warn(
            "dead-lettered {}-{}@{} (event id {}, trace {}, reason {}, {} attempt(s)): {}",
            record.topic(),
            record.partition(),
            record.offset(),
            eventId == null ? "none" : eventId,
            Observations.traceIdForLog(),
            reason,
            attempts,
            failure == null ? "no error" : failure.toString());
        return Outcome.of(Outcome.Kind.DEAD_LETTERED, eventId);
      }
      env.metrics().duplicate(record.topic());
      return Outcome.of(Outcome.Kind.DUPLICATE, eventId);
    } catch (Throwable t) {
      Failures.rethrowIfFatal(t);
      return Outcome.failed(eventId, t);
    }
  }

  private static DeadLetter letter(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure) {
    return new DeadLetter(
        eventId,
        eventId != null,
        RecordCoordinates.of(record),
        record.key(),
        record.value(),
        HeadersJson.encode(record.headers()),
        attempts,
        record.deliveryCount().map(Short::intValue).orElse(null),
        reason,
        failure == null ? null : failure.getClass().getName(),
        failure == null ? null : truncate(String.valueOf(failure.getMessage())));
  }

  @Override
  public boolean isKeyRace(SQLException e) {
    return env.store().isProcessedKeyViolation(e);
  }

  /**
   * At most {@value #MAX_MESSAGE_CHARS} characters, without NUL (PostgreSQL text cannot hold it).
   */
  private static String truncate(String s) {
    String text = s.replace('\0', '\ufffd');
    return text.length() <= MAX_MESSAGE_CHARS ? text : text.substring(0, MAX_MESSAGE_CHARS) + "...";
  }
}
