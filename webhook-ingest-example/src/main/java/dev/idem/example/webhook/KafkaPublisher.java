package dev.idem.example.webhook;

import dev.idem.consumer.observation.Traceparent;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.Kind;
import io.micrometer.observation.transport.SenderContext;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes accepted webhooks: key = account id (the ordering key), value = the raw body, headers
 * {@code webhook-id} (the event id) and {@code webhook-timestamp}. Idempotent producer with {@code
 * acks=all}; a send is acknowledged or fails within about ten seconds, so a provider that waits
 * 15-30 s always gets an answer.
 *
 * <p>Each send is one {@value #OBSERVATION} observation (a producer span {@code publish <topic>}
 * when tracing is set up, the child of the HTTP request's span) whose context goes into the
 * record's {@code traceparent} header, replacing any other. Without tracing, a valid {@code
 * traceparent} of the HTTP request is passed on as it came, so the consumer's log lines still carry
 * the sender's trace id.
 */
public final class KafkaPublisher implements AutoCloseable {
  /** The W3C Trace Context header, in HTTP requests and Kafka records alike. */
  public static final String TRACEPARENT = Traceparent.HEADER;

  /** The observation of one send. */
  public static final String OBSERVATION = "webhook.publish";

  private final KafkaProducer<byte[], byte[]> producer;
  private final ObservationRegistry observations;

  public KafkaPublisher(String bootstrapServers, int maxRecordBytes) {
    this(bootstrapServers, maxRecordBytes, ObservationRegistry.NOOP);
  }

  public KafkaPublisher(
      String bootstrapServers, int maxRecordBytes, ObservationRegistry observations) {
    this.observations = observations;
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
   * @param traceparent the HTTP request's {@code traceparent} header, or null
   * @throws UnavailableException when the broker did not acknowledge in time
   */
  public void publish(
      String topic, String account, String id, String timestamp, byte[] body, String traceparent)
      throws UnavailableException, InterruptedException {
    ProducerRecord<byte[], byte[]> record =
        new ProducerRecord<>(topic, account.getBytes(StandardCharsets.UTF_8), body);
    record.headers().add("webhook-id", id.getBytes(StandardCharsets.UTF_8));
    record.headers().add("webhook-timestamp", timestamp.getBytes(StandardCharsets.UTF_8));
    if (observations.isNoop()) {
      passOn(record.headers(), traceparent);
      send(record);
      return;
    }
    SenderContext<Headers> context = new SenderContext<>(KafkaPublisher::replace, Kind.PRODUCER);
    context.setCarrier(record.headers());
    context.setRemoteServiceName("kafka");
    Observation observation =
        Observation.createNotStarted(OBSERVATION, () -> context, observations)
            .contextualName("publish " + topic)
            .lowCardinalityKeyValue("messaging.destination.name", topic)
            .start();
    // A registry without a tracing handler propagates nothing: the request's trace goes on as is.
    passOn(record.headers(), traceparent);
    try (Observation.Scope scope = observation.openScope()) {
      send(record);
    } catch (UnavailableException | InterruptedException | RuntimeException e) {
      observation.error(e);
      throw e;
    } finally {
      observation.stop();
    }
  }

  private void send(ProducerRecord<byte[], byte[]> record)
      throws UnavailableException, InterruptedException {
    try {
      producer.send(record).get(15, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new UnavailableException("Kafka did not acknowledge: " + cause);
    }
  }

  /** Adds the request's trace when it is valid and nothing put one in the record yet. */
  private static void passOn(Headers headers, String traceparent) {
    Traceparent parsed = Traceparent.parse(traceparent);
    if (parsed != null && headers.lastHeader(TRACEPARENT) == null) {
      headers.add(TRACEPARENT, parsed.toString().getBytes(StandardCharsets.UTF_8));
    }
  }

  /** A propagation field: one header of each name, the last value written. */
  private static void replace(Headers headers, String key, String value) {
    headers.remove(key);
    headers.add(key, value.getBytes(StandardCharsets.UTF_8));
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
