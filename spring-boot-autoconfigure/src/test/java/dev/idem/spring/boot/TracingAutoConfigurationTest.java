package dev.idem.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.EventHandler;
import dev.idem.consumer.observation.Traceparent;
import dev.idem.consumer.observation.tracing.RecordTracingObservationHandler;
import dev.idem.testkit.OtelTracing;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.propagation.Propagator;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * An application with Micrometer Tracing (a Tracer and a Propagator bean over the OpenTelemetry
 * SDK) gets idem's consumer spans through Boot's observation registry, with idem's handlers ahead
 * of Boot's: a record's span continues its {@code traceparent}, and a replayed record's span links
 * to the original trace, which Boot's generic receiver handler would not do.
 */
class TracingAutoConfigurationTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();
  static final String TOPIC = TestInfrastructure.uniqueName("traced");
  static final InMemorySpanExporter SPANS = InMemorySpanExporter.create();
  static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("idem.outcome");

  static ConfigurableApplicationContext context;

  @BeforeAll
  static void start() {
    INFRA.createTopics(1, TOPIC);
    SpringApplicationBuilder app =
        new SpringApplicationBuilder(TracedApp.class).web(WebApplicationType.NONE);
    app.properties(TestApps.infrastructure(INFRA));
    app.properties(
        "idem.consumers." + TOPIC + ".topics=" + TOPIC,
        "idem.consumers." + TOPIC + ".handler=traced",
        "idem.consumers." + TOPIC + ".event-id=header:webhook-id",
        "idem.consumers." + TOPIC + ".commit-interval=200ms",
        "idem.consumers." + TOPIC + ".drain-timeout=5s");
    context = app.run();
  }

  @AfterAll
  static void stop() {
    if (context != null) {
      context.close();
    }
  }

  @Test
  void recordSpansContinueTheirTraceAndAReplayLinksToTheOriginal() throws Exception {
    assertThat(context.getBeansOfType(RecordTracingObservationHandler.class)).hasSize(1);
    Traceparent sender =
        new Traceparent("5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7", true);
    Traceparent original =
        new Traceparent("6bf92f3577b34da6a3ce929d0e0e4736", "20f067aa0ba902b7", true);
    send("t-1", Traceparent.HEADER, sender);
    send("t-2", Traceparent.LINKED_HEADER, original);

    SpanData continued = awaitSpan(s -> s.getTraceId().equals(sender.traceId()));
    assertThat(continued.getName()).isEqualTo("process " + TOPIC);
    assertThat(continued.getParentSpanId()).isEqualTo(sender.spanId());
    assertThat(continued.getAttributes().get(OUTCOME)).isEqualTo("processed");

    SpanData replayed =
        awaitSpan(
            s ->
                s.getLinks().stream()
                    .anyMatch(l -> l.getSpanContext().getTraceId().equals(original.traceId())));
    assertThat(replayed.getName()).isEqualTo("process " + TOPIC);
    assertThat(replayed.getTraceId()).isNotEqualTo(original.traceId());
    assertThat(replayed.getParentSpanContext().isValid()).isFalse();
    assertThat(replayed.getLinks())
        .extracting(l -> l.getSpanContext().getSpanId())
        .containsExactly(original.spanId());
  }

  private static SpanData awaitSpan(Predicate<SpanData> which) {
    await()
        .atMost(Duration.ofSeconds(60))
        .until(() -> SPANS.getFinishedSpanItems().stream().anyMatch(which));
    List<SpanData> found = SPANS.getFinishedSpanItems().stream().filter(which).toList();
    assertThat(found).hasSize(1);
    return found.get(0);
  }

  private static void send(String id, String header, Traceparent trace) {
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, INFRA.kafka().bootstrapServers()),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      ProducerRecord<byte[], byte[]> r =
          new ProducerRecord<>(TOPIC, 0, id.getBytes(StandardCharsets.UTF_8), "x".getBytes());
      r.headers().add("webhook-id", id.getBytes(StandardCharsets.UTF_8));
      r.headers().add(header, trace.toString().getBytes(StandardCharsets.UTF_8));
      producer.send(r);
      producer.flush();
    }
  }

  /** The application: Micrometer Tracing over the OpenTelemetry SDK, one handler. */
  @SpringBootConfiguration
  @EnableAutoConfiguration
  static class TracedApp {
    @Bean(destroyMethod = "close")
    OtelTracing tracing() {
      return OtelTracing.start(SimpleSpanProcessor.create(SPANS));
    }

    @Bean
    Tracer tracer(OtelTracing tracing) {
      return tracing.tracer();
    }

    @Bean
    Propagator propagator(OtelTracing tracing) {
      return tracing.propagator();
    }

    @Bean
    EventHandler<String> traced() {
      return (payload, ctx) -> {};
    }
  }
}
