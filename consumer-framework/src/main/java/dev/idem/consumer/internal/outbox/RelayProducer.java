package dev.idem.consumer.internal.outbox;

import dev.idem.consumer.internal.store.OutboxRows.Row;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's transactional producer: opened for a leadership, closed when it ends or a round
 * fails. Used by the relay's thread only, and closed by {@code close()} once that thread stopped.
 */
final class RelayProducer {
  private static final Logger log = LoggerFactory.getLogger(RelayProducer.class);

  private final String relay;
  private final Map<String, Object> settings;
  private final String eventIdHeader;
  private Producer<byte[], byte[]> producer;

  RelayProducer(String relay, Map<String, Object> kafka, String eventIdHeader) {
    this.relay = relay;
    this.settings = settings(relay, kafka);
    this.eventIdHeader = eventIdHeader;
  }

  /**
   * The user's settings with idempotence, {@code acks=all} and the relay's {@code
   * transactional.id}, which every instance of one relay shares so that a new leader fences the
   * old.
   */
  private static Map<String, Object> settings(String relay, Map<String, Object> kafka) {
    Map<String, Object> settings = new HashMap<>(kafka);
    settings.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    settings.put(ProducerConfig.ACKS_CONFIG, "all");
    settings.putIfAbsent(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "idem-outbox-relay-" + relay);
    settings.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "idem-outbox-relay-" + relay);
    settings.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 5);
    settings.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
    settings.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    settings.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
    return Map.copyOf(settings);
  }

  /**
   * Opens the producer unless it is open: its {@code initTransactions} also aborts what a dead
   * predecessor left open.
   */
  void open() {
    if (producer == null) {
      Producer<byte[], byte[]> p =
          new KafkaProducer<>(settings, new ByteArraySerializer(), new ByteArraySerializer());
      try {
        p.initTransactions();
      } catch (RuntimeException e) {
        p.close(Duration.ZERO);
        throw e;
      }
      producer = p;
    }
  }

  /**
   * Sends {@code rows} in one Kafka transaction on the open producer, in their order, each with its
   * event id header. A failed transaction is aborted whole, so a {@code read_committed} reader sees
   * none of it; a fenced producer is left to be closed.
   */
  void sendInOneTransaction(List<Row> rows) {
    Producer<byte[], byte[]> p = producer;
    p.beginTransaction();
    try {
      for (Row r : rows) {
        p.send(toRecord(r));
      }
      p.commitTransaction();
    } catch (ProducerFencedException e) {
      throw e;
    } catch (KafkaException e) {
      abortQuietly(p);
      throw e;
    }
  }

  private static void abortQuietly(Producer<byte[], byte[]> p) {
    try {
      p.abortTransaction();
    } catch (RuntimeException e) {
      // The producer is closed next; a new one's initTransactions aborts what is left.
    }
  }

  /** Closes the producer if it is open; the next {@link #open()} makes a new one. */
  void close() {
    if (producer != null) {
      try {
        producer.close(Duration.ofSeconds(5));
      } catch (RuntimeException e) {
        log.debug("outbox relay {}: producer close failed", relay, e);
      }
      producer = null;
    }
  }

  private ProducerRecord<byte[], byte[]> toRecord(Row row) {
    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(row.topic(), row.key(), row.value());
    for (int i = 0; i < row.headerNames().length; i++) {
      r.headers().add(row.headerNames()[i], row.headerValues()[i]);
    }
    r.headers().add(eventIdHeader, row.eventId().getBytes(StandardCharsets.UTF_8));
    return r;
  }
}
