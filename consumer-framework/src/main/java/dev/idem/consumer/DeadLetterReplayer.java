package dev.idem.consumer;

import dev.idem.IdemException;
import dev.idem.consumer.internal.store.DeadLetterRows;
import dev.idem.consumer.internal.store.HeadersJson;
import dev.idem.consumer.internal.store.ParkedKeys;
import dev.idem.consumer.internal.store.TransactionSettings;
import dev.idem.consumer.internal.tx.RecordProcessor;
import dev.idem.consumer.observation.Traceparent;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.LockKey;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds dead letters of a consumer back through processing.
 *
 * <p>For each dead letter, in one transaction that holds the event's advisory lock: delete the row,
 * publish the original record (key, value, headers) to its original topic and partition and wait
 * for the acknowledgement, commit. A copy of the event that the consumer reads meanwhile waits on
 * the lock, so it never sees the row half-gone. A failed publish rolls back (the row stays); a
 * failed commit after a publish leaves the row and a republished record that the consumer skips as
 * a duplicate. The consumer processes the republished record like any other, deduplicated by its
 * processed marks: a second replay finds no rows and does nothing.
 *
 * <p>A dead letter of a parked key ({@code consumer.dead-letter.on-failure=park-key}) is replayed
 * with its whole key: in one transaction every dead letter filed under the key is deleted and
 * republished in the order it was written, each with an {@code idem.release} header carrying the
 * release's token, and the key is marked as releasing. The consumer applies them in that order;
 * records of the key that arrive meanwhile queue behind them; the key is no longer parked once the
 * last released record is done. {@link #discard(Request)} gives up on dead letters for good.
 *
 * <p>Other consumer groups reading the original topic see the republished record too.
 */
public final class DeadLetterReplayer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DeadLetterReplayer.class);

  private final IdemConfig config;
  private final DataSource dataSource;
  private final Producer<byte[], byte[]> producer;
  private final DeadLetterRows rows;
  private final ParkedKeys parkedKeys;
  private final TransactionSettings settings;
  private final Transactions transactions = Transactions.standard();

  private DeadLetterReplayer(IdemConfig config, DataSource dataSource) {
    this.config = config;
    this.dataSource = dataSource;
    this.producer =
        new KafkaProducer<>(
            config.producerProperties(), new ByteArraySerializer(), new ByteArraySerializer());
    this.rows =
        new DeadLetterRows(
            config.schema(),
            config.deadLetterTable(),
            config.processedTable(),
            config.consumerName());
    this.parkedKeys =
        new ParkedKeys(config.consumerName(), config.schema(), config.deadLetterTable());
    // The server version only adds transaction_timeout; the replay's own bound is its send.
    this.settings = new TransactionSettings(config.lockTimeout(), config.handlerTimeout(), 0);
  }

  /**
   * The outcome of a discard.
   *
   * @param discarded event ids (or coordinates) removed for good and recorded as processed
   * @param released dead letters of parked keys released because the discarded one was first
   * @param failed event ids (or coordinates) left in place because the transaction failed
   */
  public record Discarded(List<String> discarded, List<String> released, List<String> failed) {
    public Discarded {
      discarded = List.copyOf(discarded);
      released = List.copyOf(released);
      failed = List.copyOf(failed);
    }
  }

  /** A replayer for the consumer described by {@code config}, on {@code dataSource}. */
  public static DeadLetterReplayer create(IdemConfig config, DataSource dataSource) {
    return new DeadLetterReplayer(config, dataSource);
  }

  /**
   * What to replay.
   *
   * @param eventIds only these ids, or null for all
   * @param reason only this reason ({@code handler-failed}, {@code invalid-event-id}, {@code
   *     undeserializable}), or null for all
   * @param limit the most dead letters to replay
   */
  public record Request(List<String> eventIds, String reason, int limit) {
    public Request {
      eventIds = eventIds == null ? null : List.copyOf(eventIds);
      if (limit < 1) {
        throw new IllegalArgumentException("limit must be at least 1");
      }
    }

    /** Every dead letter, up to {@code limit}. */
    public static Request all(int limit) {
      return new Request(null, null, limit);
    }
  }

  /**
   * The outcome of a replay.
   *
   * @param replayed event ids republished and removed from the dead letters ({@code
   *     topic-partition@offset} for records that had no event id)
   * @param failed event ids (or coordinates) left in place because publishing or committing failed
   */
  public record Result(List<String> replayed, List<String> failed) {
    public Result {
      replayed = List.copyOf(replayed);
      failed = List.copyOf(failed);
    }
  }

  /** Replays the dead letters the request selects; a parked key's dead letters all, in order. */
  public Result replay(Request request) {
    List<String> replayed = new ArrayList<>();
    List<String> failed = new ArrayList<>();
    Set<Long> keysDone = new HashSet<>();
    for (DeadLetterRows.Ref ref : select(request)) {
      if (ref.parkedKey() != null && !keysDone.add(ref.parkedKey())) {
        continue; // released with its key already
      }
      try {
        if (ref.parkedKey() != null) {
          replayed.addAll(
              transactions.run(
                  dataSource,
                  c -> {
                    settings.begin(c);
                    return release(c, ref.parkedKey());
                  }));
        } else if (replayOne(ref)) {
          replayed.add(ref.label());
        }
      } catch (Exception e) {
        log.error(
            "replay of dead letter {} of {} failed; it stays",
            ref.label(),
            config.consumerName(),
            e);
        failed.add(ref.label());
      }
    }
    log.info(
        "replayed {} dead letters of {} ({} failed)",
        replayed.size(),
        config.consumerName(),
        failed.size());
    return new Result(replayed, failed);
  }

  /**
   * Gives up on the dead letters the request selects: each row is deleted and its event id recorded
   * as processed, so that later copies of it are skipped although it was never applied. When a
   * discarded dead letter was the first of a parked key, the rest of that key is released in order
   * (as by {@link #replay}).
   */
  public Discarded discard(Request request) {
    List<String> discarded = new ArrayList<>();
    List<String> released = new ArrayList<>();
    List<String> failed = new ArrayList<>();
    for (DeadLetterRows.Ref ref : select(request)) {
      try {
        List<String> freed =
            transactions.run(
                dataSource,
                c -> {
                  settings.begin(c);
                  boolean head = false;
                  if (ref.parkedKey() != null && parkedKeys.lock(c, ref.parkedKey())) {
                    List<Long> members = parkedKeys.members(c, ref.parkedKey());
                    head = !members.isEmpty() && members.get(0) == ref.id();
                  }
                  DeadLetterRows.Row row = rows.delete(c, ref.id());
                  if (row == null) {
                    return null; // resolved meanwhile
                  }
                  rows.markDiscarded(c, row);
                  return head ? release(c, ref.parkedKey()) : List.of();
                });
        if (freed != null) {
          discarded.add(ref.label());
          released.addAll(freed);
        }
      } catch (Exception e) {
        log.error(
            "discarding dead letter {} of {} failed; it stays",
            ref.label(),
            config.consumerName(),
            e);
        failed.add(ref.label());
      }
    }
    log.info(
        "discarded {} dead letters of {}, released {} parked behind them ({} failed)",
        discarded.size(),
        config.consumerName(),
        released.size(),
        failed.size());
    return new Discarded(discarded, released, failed);
  }

  private List<DeadLetterRows.Ref> select(Request request) {
    try {
      return transactions.run(
          dataSource, c -> rows.select(c, request.eventIds(), request.reason(), request.limit()));
    } catch (Exception e) {
      throw new IdemException("cannot read dead letters of " + config.consumerName(), e);
    }
  }

  private boolean replayOne(DeadLetterRows.Ref ref) throws Exception {
    return transactions.run(
        dataSource,
        c -> {
          settings.begin(c);
          if (ref.eventId() != null) {
            // A copy the consumer reads meanwhile waits here and never sees the row half-gone.
            settings.lock(c, LockKey.hash(config.lockNamespace(), ref.eventId()));
          }
          DeadLetterRows.Row row = rows.delete(c, ref.id());
          if (row == null) {
            return false; // replayed or resolved meanwhile; committing the empty delete is harmless
          }
          producer.send(toRecord(row, null)).get(30, TimeUnit.SECONDS);
          return true;
        });
  }

  /**
   * Inside the caller's transaction: deletes every dead letter filed under the parked key and
   * republishes them in order under a new release token; returns their labels. The key's row lock
   * makes the consumer's records of that key wait until the release is committed.
   */
  private List<String> release(Connection c, long parkedKey) throws Exception {
    if (!parkedKeys.lock(c, parkedKey)) {
      return List.of(); // released meanwhile
    }
    List<Long> members = parkedKeys.members(c, parkedKey);
    UUID token = UUID.randomUUID();
    List<String> labels = new ArrayList<>(members.size());
    List<Future<?>> sent = new ArrayList<>(members.size());
    for (long id : members) {
      DeadLetterRows.Row row = rows.delete(c, id);
      labels.add(row.label());
      // One partition, an idempotent producer: they arrive in this order.
      sent.add(producer.send(toRecord(row, token)));
    }
    parkedKeys.release(c, parkedKey, token, members.size());
    for (Future<?> f : sent) {
      f.get(30, TimeUnit.SECONDS);
    }
    return labels;
  }

  /**
   * A replay starts a new trace linked to the original one: the record's {@code traceparent} moves
   * to {@value Traceparent#LINKED_HEADER} (its span links to it; see docs/operations.md), its
   * {@code tracestate} goes. A replay of a replay keeps the first original.
   */
  static void relinkTrace(Headers headers) {
    Header original = headers.lastHeader(Traceparent.HEADER);
    headers.remove(Traceparent.HEADER);
    headers.remove(Traceparent.STATE_HEADER);
    if (original != null && headers.lastHeader(Traceparent.LINKED_HEADER) == null) {
      headers.add(Traceparent.LINKED_HEADER, original.value());
    }
  }

  private static ProducerRecord<byte[], byte[]> toRecord(DeadLetterRows.Row row, UUID release) {
    Headers headers;
    try {
      headers = HeadersJson.decode(row.headersJson());
    } catch (IOException e) {
      throw new IdemException("dead letter " + row.label() + " has unreadable headers", e);
    }
    relinkTrace(headers);
    if (release != null) {
      headers.remove(RecordProcessor.RELEASE_HEADER);
      headers.add(
          RecordProcessor.RELEASE_HEADER, release.toString().getBytes(StandardCharsets.UTF_8));
    }
    return new ProducerRecord<>(row.topic(), row.partition(), row.key(), row.value(), headers);
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }
}
