package dev.idem.consumer;

import dev.idem.consumer.internal.store.DeadLetterRows;
import dev.idem.consumer.internal.store.HeadersJson;
import dev.idem.consumer.internal.store.TransactionSettings;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.LockKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
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
 * <p>Other consumer groups reading the original topic see the republished record too.
 */
public final class DeadLetterReplayer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DeadLetterReplayer.class);

  private final IdemConfig config;
  private final DataSource dataSource;
  private final Producer<byte[], byte[]> producer;
  private final DeadLetterRows rows;
  private final TransactionSettings settings;
  private final Transactions transactions = Transactions.standard();

  private DeadLetterReplayer(IdemConfig config, DataSource dataSource) {
    this.config = config;
    this.dataSource = dataSource;
    this.producer =
        new KafkaProducer<>(
            config.producerProperties(), new ByteArraySerializer(), new ByteArraySerializer());
    this.rows =
        new DeadLetterRows(config.schema(), config.deadLetterTable(), config.consumerName());
    // The server version only adds transaction_timeout; the replay's own bound is its send.
    this.settings = new TransactionSettings(config.lockTimeout(), config.handlerTimeout(), 0);
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

  /** Replays the dead letters the request selects. */
  public Result replay(Request request) {
    List<DeadLetterRows.Ref> refs;
    try {
      refs =
          transactions.run(
              dataSource,
              c -> rows.select(c, request.eventIds(), request.reason(), request.limit()));
    } catch (Exception e) {
      throw new IdemException("cannot read dead letters of " + config.consumerName(), e);
    }
    List<String> replayed = new ArrayList<>();
    List<String> failed = new ArrayList<>();
    for (DeadLetterRows.Ref ref : refs) {
      try {
        if (replayOne(ref)) {
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
          producer.send(toRecord(row)).get(30, TimeUnit.SECONDS);
          return true;
        });
  }

  private static ProducerRecord<byte[], byte[]> toRecord(DeadLetterRows.Row row) {
    Headers headers;
    try {
      headers = HeadersJson.decode(row.headersJson());
    } catch (java.io.IOException e) {
      throw new IdemException(
          "dead letter "
              + (row.eventId() != null
                  ? row.eventId()
                  : row.topic() + "-" + row.partition() + "@" + row.offset())
              + " has unreadable headers",
          e);
    }
    return new ProducerRecord<>(row.topic(), row.partition(), row.key(), row.value(), headers);
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }
}
