package dev.idem.consumer.internal.deadletter;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.internal.store.DeadLetter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.SenderContext;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes dead letters to {@code consumer.dead-letter-topic}: the original key, value and
 * headers, plus {@code idem.*} headers naming the event id, consumer, attempts, reason, error and
 * origin. idem's headers are truncated to {@value #MAX_HEADER_BYTES} bytes each, so a record that
 * fit its source topic fits the dead-letter topic when that topic's {@code max.message.bytes} is at
 * least the source's plus {@value #HEADROOM_BYTES} bytes.
 */
public final class KafkaDeadLetterPublisher implements DeadLetterPublisher {
  /** The name of the observation of a dead letter's send. */
  public static final String PUBLISH_OBSERVATION = "idem.dead-letter.publish";

  /** The longest value of one idem header. */
  public static final int MAX_HEADER_BYTES = 4096;

  /** Room idem's headers need on top of the original record. */
  public static final int HEADROOM_BYTES = 6 * MAX_HEADER_BYTES + 512;

  private final IdemConfig config;
  private final Producer<byte[], byte[]> producer;
  private final Duration timeout;
  private final KafkaClientMetrics clientMetrics;
  private final ObservationRegistry observations;

  /**
   * A publisher whose producer reports its client metrics to {@code registry} and whose sends are
   * observed in {@code observations} (NOOP: not observed).
   */
  public KafkaDeadLetterPublisher(
      IdemConfig config, MeterRegistry registry, ObservationRegistry observations) {
    this.config = config;
    this.observations = observations;
    this.producer =
        new KafkaProducer<>(
            config.producerProperties(), new ByteArraySerializer(), new ByteArraySerializer());
    this.timeout = Duration.ofSeconds(30);
    this.clientMetrics =
        new KafkaClientMetrics(producer, Tags.of("consumer", config.consumerName()));
    clientMetrics.bindTo(registry);
  }

  @Override
  public void publish(ConsumerRecord<byte[], byte[]> record, DeadLetter letter) throws Exception {
    String topic = config.deadLetterTopicFor(record.topic());
    ProducerRecord<byte[], byte[]> out =
        new ProducerRecord<>(topic, null, record.timestamp(), record.key(), record.value());
    for (Header h : record.headers()) {
      out.headers().add(h.key(), h.value());
    }
    header(out, "idem.event-id", letter.hasEventId() ? letter.eventId() : "");
    header(out, "idem.consumer", config.consumerName());
    header(out, "idem.attempts", Integer.toString(letter.attempts()));
    header(out, "idem.reason", letter.reason());
    header(
        out,
        "idem.error",
        letter.exceptionClass() == null
            ? ""
            : letter.exceptionClass() + ": " + letter.exceptionMessage());
    header(out, "idem.origin", letter.origin().toString());
    if (observations.isNoop()) {
      send(out); // the record's own traceparent, if any, is kept as it came
      return;
    }
    // A child of the dead-letter transaction's span: the tracer's propagator writes its context
    // into the record, replacing the copied traceparent (one header, never two).
    SenderContext<Headers> context =
        new SenderContext<>(
            (headers, key, value) -> {
              headers.remove(key);
              headers.add(key, value.getBytes(StandardCharsets.UTF_8));
            });
    context.setCarrier(out.headers());
    context.setRemoteServiceName("kafka");
    Observation.createNotStarted(PUBLISH_OBSERVATION, () -> context, observations)
        .contextualName("send " + topic)
        .lowCardinalityKeyValue("idem.consumer", config.consumerName())
        .lowCardinalityKeyValue("messaging.destination.name", topic)
        .lowCardinalityKeyValue("messaging.system", "kafka")
        .observeChecked(() -> send(out));
  }

  private void send(ProducerRecord<byte[], byte[]> out) throws Exception {
    producer.send(out).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static void header(ProducerRecord<byte[], byte[]> out, String key, String value) {
    byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > MAX_HEADER_BYTES) {
      bytes = truncateUtf8(value, MAX_HEADER_BYTES);
    }
    out.headers().add(key, bytes);
  }

  /** The longest prefix of {@code value} whose UTF-8 form has at most {@code max} bytes. */
  static byte[] truncateUtf8(String value, int max) {
    StringBuilder sb = new StringBuilder();
    int bytes = 0;
    for (int i = 0; i < value.length(); ) {
      int cp = value.codePointAt(i);
      int n = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8).length;
      if (bytes + n > max) {
        break;
      }
      sb.appendCodePoint(cp);
      bytes += n;
      i += Character.charCount(cp);
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public void close() {
    clientMetrics.close();
    producer.close(Duration.ofSeconds(5));
  }
}
