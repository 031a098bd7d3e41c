package dev.idem.example.webhook;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes accepted webhooks: key = account id (the ordering key), value = the raw body, headers
 * {@code webhook-id} (the event id) and {@code webhook-timestamp}. Idempotent producer with {@code
 * acks=all}; a send is acknowledged or fails within about ten seconds, so a provider that waits
 * 15-30 s always gets an answer.
 */
public final class KafkaPublisher implements AutoCloseable {
  private final KafkaProducer<byte[], byte[]> producer;

  public KafkaPublisher(String bootstrapServers, int maxRecordBytes) {
    this.producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers,
                ProducerConfig.CLIENT_ID_CONFIG,
                "webhook-ingest",
                ProducerConfig.ACKS_CONFIG,
                "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG,
                true,
                ProducerConfig.MAX_BLOCK_MS_CONFIG,
                10_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG,
                5_000,
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG,
                10_000,
                ProducerConfig.LINGER_MS_CONFIG,
                1,
                ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
                maxRecordBytes,
                ProducerConfig.BUFFER_MEMORY_CONFIG,
                Math.max(32L << 20, 4L * maxRecordBytes)),
            new ByteArraySerializer(),
            new ByteArraySerializer());
  }

  /**
   * Sends and waits for the broker's acknowledgement.
   *
   * @throws UnavailableException when the broker did not acknowledge in time
   */
  public void publish(String topic, String account, String id, String timestamp, byte[] body)
      throws UnavailableException, InterruptedException {
    ProducerRecord<byte[], byte[]> record =
        new ProducerRecord<>(topic, account.getBytes(StandardCharsets.UTF_8), body);
    record.headers().add("webhook-id", id.getBytes(StandardCharsets.UTF_8));
    record.headers().add("webhook-timestamp", timestamp.getBytes(StandardCharsets.UTF_8));
    try {
      producer.send(record).get(15, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new UnavailableException("Kafka did not acknowledge: " + cause);
    }
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }

  /** Kafka could not take the record now; the sender should retry later. */
  public static final class UnavailableException extends Exception {
    private static final long serialVersionUID = 1L;

    public UnavailableException(String message) {
      super(message, null, false, false);
    }
  }
}
