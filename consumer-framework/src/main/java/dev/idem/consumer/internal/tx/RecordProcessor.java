package dev.idem.consumer.internal.tx;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.EventIdExtractor;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.PayloadDeserializer;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.store.DeadLetter;
import dev.idem.consumer.internal.store.IdempotencyStore;
import dev.idem.consumer.internal.store.RecordCoordinates;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Base64;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * One attempt at one record: the processing contract of DESIGN section 3, in one transaction on one
 * pooled connection. Thread-safe; called from worker threads.
 *
 * @param <T> the payload type
 */
public final class RecordProcessor<T> {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_MESSAGE_CHARS = 4096;

  private final String consumerName;
  private final String lockNamespace;
  private final DataSource dataSource;
  private final IdempotencyStore store;
  private final EventIdExtractor eventIds;
  private final PayloadDeserializer<T> payloads;
  private final EventHandler<T> handler;
  private final LockKeyFunction keys;
  private final ConsumerMetrics metrics;
  private final FaultHook faults;
  private final DeadLetterPublisher deadLetterPublisher;

  public RecordProcessor(
      String consumerName,
      String lockNamespace,
      DataSource dataSource,
      IdempotencyStore store,
      EventIdExtractor eventIds,
      PayloadDeserializer<T> payloads,
      EventHandler<T> handler,
      LockKeyFunction keys,
      ConsumerMetrics metrics,
      FaultHook faults,
      DeadLetterPublisher deadLetterPublisher) {
    this.consumerName = consumerName;
    this.lockNamespace = lockNamespace;
    this.dataSource = dataSource;
    this.store = store;
    this.eventIds = eventIds;
    this.payloads = payloads;
    this.handler = handler;
    this.keys = keys;
    this.metrics = metrics;
    this.faults = faults;
    this.deadLetterPublisher = deadLetterPublisher;
  }

  /**
   * The record's valid event id and payload, or null when it has no valid id or an unreadable
   * payload (process it alone to dead-letter it with the reason). Never throws but for fatal
   * errors.
   */
  public Prepared<T> prepare(ConsumerRecord<byte[], byte[]> record) {
    try {
      String id = eventIds.eventId(record);
      if (EventIds.problem(id) != null) {
        return null;
      }
      return new Prepared<>(record, id, payloads.deserialize(record));
    } catch (Exception | Error e) {
      rethrowIfFatal(e);
      return null;
    }
  }

  /**
   * Attempt {@code attempt} (1-based) at {@code record}.
   *
   * @throws FaultHook.SimulatedCrash when a test's fault hook stops the consumer
   */
  public Outcome process(ConsumerRecord<byte[], byte[]> record, int attempt) {
    String eventId;
    try {
      eventId = eventIds.eventId(record);
    } catch (Exception | Error e) {
      rethrowIfFatal(e);
      return Outcome.rejected(null, "invalid-event-id", e);
    }
    String problem = EventIds.problem(eventId);
    if (problem != null) {
      return Outcome.rejected(
          null, "invalid-event-id", new IllegalArgumentException("event id " + problem));
    }
    T payload;
    try {
      payload = payloads.deserialize(record);
    } catch (Exception | Error e) {
      rethrowIfFatal(e);
      return Outcome.rejected(eventId, "undeserializable", e);
    }
    Outcome outcome = transact(record, eventId, payload, attempt);
    if (outcome.kind() == Outcome.Kind.PROCESSED) {
      faults.afterDatabaseCommit(record);
    }
    return outcome;
  }

  private Outcome transact(
      ConsumerRecord<byte[], byte[]> record, String eventId, T payload, int attempt) {
    String topic = record.topic();
    faults.transactionStarted(record);
    long start = System.nanoTime();
    try (Connection c = dataSource.getConnection()) {
      boolean autoCommit = c.getAutoCommit();
      if (autoCommit) {
        c.setAutoCommit(false);
      }
      try {
        long lockStart = System.nanoTime();
        store.beginAndLock(c, keys.key(lockNamespace, eventId));
        metrics.lockWait(topic, System.nanoTime() - lockStart);
        RecordCoordinates origin =
            new RecordCoordinates(topic, record.partition(), record.offset());
        if (!store.markIfNew(c, eventId, origin)) {
          c.commit();
          metrics.duplicate(topic);
          return Outcome.of(Outcome.Kind.DUPLICATE, eventId);
        }
        long handlerStart = System.nanoTime();
        try {
          handler.handle(
              payload,
              new Context(consumerName, eventId, record, attempt, GuardedConnection.wrap(c)));
        } finally {
          metrics.handlerTime(topic, System.nanoTime() - handlerStart);
        }
        c.commit();
        metrics.processed(topic);
        return Outcome.of(Outcome.Kind.PROCESSED, eventId);
      } catch (Throwable t) {
        rollbackQuietly(c, t);
        if (Failures.isFatal(t)) {
          throw (Error) t;
        }
        metrics.failure(topic);
        return Outcome.failed(eventId, t);
      } finally {
        restoreAutoCommit(c, autoCommit);
      }
    } catch (SQLException e) {
      // Getting or closing the connection failed.
      metrics.failure(topic);
      return Outcome.failed(eventId, e);
    } finally {
      metrics.transactionTime(topic, System.nanoTime() - start);
    }
  }

  /**
   * Writes {@code record} to the dead letters under its event id's lock (or under {@code
   * topic-partition@offset} when it has no valid id). Returns {@link Outcome.Kind#DEAD_LETTERED},
   * {@link Outcome.Kind#DUPLICATE} when the id was already handled, or {@link Outcome.Kind#FAILED}
   * when the write failed: the record must then not be skipped.
   */
  public Outcome deadLetter(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure) {
    RecordCoordinates origin =
        new RecordCoordinates(record.topic(), record.partition(), record.offset());
    String id = eventId != null ? eventId : origin.toString();
    DeadLetter letter =
        new DeadLetter(
            id,
            eventId != null,
            origin,
            record.key(),
            record.value(),
            headersJson(record),
            attempts,
            reason,
            failure == null ? null : failure.getClass().getName(),
            failure == null ? null : truncate(String.valueOf(failure.getMessage())));
    faults.transactionStarted(record);
    try (Connection c = dataSource.getConnection()) {
      boolean autoCommit = c.getAutoCommit();
      if (autoCommit) {
        c.setAutoCommit(false);
      }
      try {
        store.beginAndLock(c, keys.key(lockNamespace, id));
        boolean written = store.deadLetter(c, letter);
        if (written) {
          // Inside the transaction: a failed publish rolls the row back and the record is
          // retried; a failed commit after a publish repeats the publish (at least once).
          deadLetterPublisher.publish(record, letter);
        }
        c.commit();
        if (written) {
          metrics.deadLettered(record.topic());
          return Outcome.of(Outcome.Kind.DEAD_LETTERED, eventId);
        }
        metrics.duplicate(record.topic());
        return Outcome.of(Outcome.Kind.DUPLICATE, eventId);
      } catch (Exception e) {
        rollbackQuietly(c, e);
        return Outcome.failed(eventId, e);
      } finally {
        restoreAutoCommit(c, autoCommit);
      }
    } catch (SQLException e) {
      return Outcome.failed(eventId, e);
    }
  }

  /** Whether {@code failure} says another path marked this event id first. */
  public boolean isProcessedKeyViolation(Throwable failure) {
    SQLException sql = Failures.sqlCause(failure);
    return sql != null && store.isProcessedKeyViolation(sql);
  }

  private static void rethrowIfFatal(Throwable t) {
    if (Failures.isFatal(t)) {
      throw (Error) t;
    }
  }

  private static String headersJson(ConsumerRecord<byte[], byte[]> record) {
    ArrayNode array = JSON.createArrayNode();
    for (Header h : record.headers()) {
      array
          .addObject()
          .put("key", h.key())
          .put("value", h.value() == null ? null : Base64.getEncoder().encodeToString(h.value()));
    }
    return array.toString();
  }

  private static String truncate(String s) {
    return s.length() <= MAX_MESSAGE_CHARS ? s : s.substring(0, MAX_MESSAGE_CHARS) + "...";
  }

  private static void rollbackQuietly(Connection c, Throwable cause) {
    try {
      c.rollback();
    } catch (SQLException | RuntimeException e) {
      // The connection is probably broken; the pool will discard it. Keep the first failure.
      cause.addSuppressed(e);
    }
  }

  private static void restoreAutoCommit(Connection c, boolean autoCommit) {
    if (!autoCommit) {
      return;
    }
    try {
      c.setAutoCommit(true);
    } catch (SQLException e) {
      // A broken connection; the pool discards it.
    }
  }
}
