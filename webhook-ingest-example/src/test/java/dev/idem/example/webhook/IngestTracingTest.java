package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.observation.Traceparent;
import dev.idem.consumer.observation.tracing.IdemTracing;
import dev.idem.testkit.OtelTracing;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.observation.ObservationRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Predicate;
import java.util.stream.StreamSupport;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One trace from the HTTP request through the Kafka record to the ledger transaction, with the
 * OpenTelemetry SDK's in-memory exporter behind Micrometer Tracing; and the {@code traceparent}
 * passed on untouched when nothing traces.
 */
class IngestTracingTest {
  private static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("idem.outcome");
  private static final AttributeKey<String> STATUS =
      AttributeKey.stringKey("http.response.status_code");

  private static final InMemorySpanExporter SPANS = InMemorySpanExporter.create();
  private static OtelTracing tracing;
  private static ExampleConfig config;
  private static WebhookApplication app;

  @BeforeAll
  static void startApp() throws Exception {
    tracing = OtelTracing.start(SimpleSpanProcessor.create(SPANS));
    ObservationRegistry observations =
        IdemTracing.register(ObservationRegistry.create(), tracing.tracer(), tracing.propagator());
    config = config(TestInfrastructure.uniqueName("traced"));
    app =
        WebhookApplication.start(
            config,
            idem(config, INFRA.kafka().bootstrapServers()),
            n -> idem(config, INFRA.kafka().bootstrapServers()),
            observations,
            Clock.systemUTC());
    app.startConsumer();
  }

  @AfterAll
  static void stopApp() throws Exception {
    if (app != null) {
      app.close();
    }
    if (tracing != null) {
      tracing.close();
    }
  }

  @Test
  void oneTraceRunsFromTheRequestThroughTheRecordToTheLedgerTransaction() throws Exception {
    String account = "acct_traced_" + config.primaryTopic();
    String id = "traced-1-" + config.primaryTopic();
    byte[] body = new PaymentEvent("payment.succeeded", account, 420, "EUR").toJson();
    Traceparent caller =
        new Traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true);
    Map<String, String> headers = new HashMap<>(signed(config, id, body));
    headers.put("traceparent", caller.toString());
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(202);

    SpanData server = awaitOne(s -> s.getName().equals("POST /webhooks"), caller.traceId());
    assertThat(server.getKind()).isEqualTo(SpanKind.SERVER);
    assertThat(server.getParentSpanId()).isEqualTo(caller.spanId());
    assertThat(server.getAttributes().get(STATUS)).isEqualTo("202");
    SpanData publish =
        awaitOne(s -> s.getName().equals("publish " + config.primaryTopic()), caller.traceId());
    assertThat(publish.getKind()).isEqualTo(SpanKind.PRODUCER);
    assertThat(publish.getParentSpanId()).isEqualTo(server.getSpanId());
    SpanData process =
        awaitOne(s -> s.getName().equals("process " + config.primaryTopic()), caller.traceId());
    assertThat(process.getKind()).isEqualTo(SpanKind.CONSUMER);
    assertThat(process.getParentSpanId()).isEqualTo(publish.getSpanId());
    assertThat(process.getAttributes().get(OUTCOME)).isEqualTo("processed");
    assertThat(
            count(
                "SELECT count(*) FROM ledger.entries WHERE event_id = '"
                    + id
                    + "' AND amount = 420"))
        .isEqualTo(1);

    // The record carries exactly one traceparent: the producer span's, not the caller's copy.
    List<ConsumerRecord<byte[], byte[]>> records = records(config.primaryTopic(), 1);
    List<String> traceparents = new ArrayList<>();
    records
        .get(0)
        .headers()
        .headers("traceparent")
        .forEach(h -> traceparents.add(new String(h.value(), StandardCharsets.UTF_8)));
    assertThat(traceparents)
        .containsExactly(new Traceparent(caller.traceId(), publish.getSpanId(), true).toString());

    // A second delivery without a caller's trace: a trace of its own, ending in a duplicate.
    Map<String, String> again = signed(config, id, body);
    assertThat(post(app.port(), "/webhooks", again, body).statusCode()).isEqualTo(202);
    SpanData secondServer =
        awaitOne(
            s -> s.getName().equals("POST /webhooks") && !s.getTraceId().equals(caller.traceId()),
            null);
    assertThat(secondServer.getParentSpanContext().isValid()).isFalse();
    SpanData duplicate =
        awaitOne(
            s -> s.getName().equals("process " + config.primaryTopic()), secondServer.getTraceId());
    assertThat(duplicate.getAttributes().get(OUTCOME)).isEqualTo("duplicate");
    assertThat(count("SELECT count(*) FROM ledger.entries WHERE event_id = '" + id + "'"))
        .isEqualTo(1);
  }

  @Test
  void withoutTracingAValidCallerTraceparentIsPassedOnAndAnInvalidOneDropped() throws Exception {
    String topic = config.primaryTopic() + "_untraced";
    INFRA.createTopics(1, topic);
    try (KafkaPublisher untraced =
        new KafkaPublisher(INFRA.kafka().bootstrapServers(), config.maxRecordBytes())) {
      String valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      untraced.publish(topic, "acct_untraced", "untraced-1", "1", "{}".getBytes(), valid);
      untraced.publish(topic, "acct_untraced", "untraced-2", "1", "{}".getBytes(), "00-zz-1-01");
      List<ConsumerRecord<byte[], byte[]>> records = records(topic, 2);
      Map<String, List<String>> byId = new HashMap<>();
      for (ConsumerRecord<byte[], byte[]> r : records) {
        String eventId =
            new String(r.headers().lastHeader("webhook-id").value(), StandardCharsets.UTF_8);
        List<String> values = new ArrayList<>();
        r.headers()
            .headers("traceparent")
            .forEach(h -> values.add(new String(h.value(), StandardCharsets.UTF_8)));
        byId.put(eventId, values);
      }
      assertThat(byId.get("untraced-1")).containsExactly(valid);
      assertThat(byId.get("untraced-2")).isEmpty();
    }
  }

  /** The one finished span matching {@code which} (in trace {@code traceId} when not null). */
  private static SpanData awaitOne(Predicate<SpanData> which, String traceId) {
    Predicate<SpanData> match =
        traceId == null ? which : which.and(s -> s.getTraceId().equals(traceId));
    await()
        .atMost(Duration.ofSeconds(60))
        .until(() -> SPANS.getFinishedSpanItems().stream().anyMatch(match));
    List<SpanData> found = SPANS.getFinishedSpanItems().stream().filter(match).toList();
    assertThat(found).hasSize(1);
    return found.get(0);
  }

  /** The records of every partition of {@code topic}, read once {@code atLeast} are in. */
  private static List<ConsumerRecord<byte[], byte[]>> records(String topic, int atLeast) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, INFRA.kafka().bootstrapServers());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    try (KafkaConsumer<byte[], byte[]> reader =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          reader.partitionsFor(topic).stream()
              .map(info -> new TopicPartition(topic, info.partition()))
              .toList();
      reader.assign(partitions);
      reader.seekToBeginning(partitions);
      List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
      await()
          .atMost(Duration.ofSeconds(30))
          .until(
              () -> {
                StreamSupport.stream(reader.poll(Duration.ofMillis(200)).spliterator(), false)
                    .forEach(all::add);
                return all.size() >= atLeast;
              });
      return all;
    }
  }
}
