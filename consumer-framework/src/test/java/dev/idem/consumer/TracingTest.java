package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.observation.Traceparent;
import dev.idem.consumer.observation.tracing.IdemTracing;
import dev.idem.testkit.OtelTracing;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.observation.ObservationRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.MDC;

/**
 * Tracing through Micrometer Observation with the OpenTelemetry bridge and the SDK's in-memory
 * exporter: the spans idem creates, their parents, links and tags, for processed, duplicate,
 * dead-lettered and replayed records and for a batch; the trace ids in the handler's MDC; the one
 * {@code traceparent} of a dead letter on its topic.
 */
class TracingTest {
  private static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("idem.outcome");
  private static final AttributeKey<String> OPERATION = AttributeKey.stringKey("idem.operation");
  private static final AttributeKey<String> CONSUMER = AttributeKey.stringKey("idem.consumer");
  private static final AttributeKey<String> EVENT_ID = AttributeKey.stringKey("idem.event.id");
  private static final AttributeKey<String> ATTEMPT = AttributeKey.stringKey("idem.attempt");
  private static final AttributeKey<String> PARTITION =
      AttributeKey.stringKey("messaging.destination.partition.id");
  private static final AttributeKey<String> TOPIC =
      AttributeKey.stringKey("messaging.destination.name");

  @RegisterExtension final Closer closer = new Closer();

  private final InMemorySpanExporter spans = InMemorySpanExporter.create();

  /** An observation registry wired to the OpenTelemetry SDK, as an application would wire it. */
  private ObservationRegistry tracedRegistry() {
    OtelTracing tracing = closer.add(OtelTracing.start(SimpleSpanProcessor.create(spans)));
    return IdemTracing.register(
        ObservationRegistry.create(), tracing.tracer(), tracing.propagator());
  }

  @Test
  void recordSpansContinueTheirTraceAndADeadLetterKeepsItsTraceUntilAReplayStartsANewOne()
      throws Exception {
    String name = TestInfrastructure.uniqueName("tracing");
    String effects = name.replace('-', '_');
    String deadLetters = name + "-dead";
    INFRA.createTopics(1, name, deadLetters);
    createEffectsTable(effects);
    AtomicBoolean poisonFixed = new AtomicBoolean();
    Map<String, String[]> mdcInHandler = new ConcurrentHashMap<>();
    IdemConfig config = config(name, name).deadLetterTopic(deadLetters).build();
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(4)))
                .observationRegistry(tracedRegistry())
                .handler(
                    (value, ctx) -> {
                      mdcInHandler.put(
                          value + "@" + ctx.offset(),
                          new String[] {MDC.get("idem.trace_id"), MDC.get("idem.span_id")});
                      if (value.equals("poison") && !poisonFixed.get()) {
                        throw new NonRetryableException("poison");
                      }
                      insertEffect(effects, value, ctx);
                    })
                .build());
    consumer.start();
    Traceparent applied = newTrace();
    Traceparent copy = newTrace();
    Traceparent poisoned = newTrace();
    send(
        List.of(
            traced(record(name, 0, "k", "e-1", "one"), applied),
            traced(record(name, 0, "k", "e-1", "one"), copy),
            traced(record(name, 0, "k", "e-2", "poison"), poisoned)));
    awaitTrue(
        Duration.ofSeconds(30),
        "one applied, one duplicate, one dead-lettered",
        () -> {
          var s = consumer.snapshot();
          return s.processed() == 1 && s.duplicates() == 1 && s.deadLettered() == 1;
        });

    SpanData processed = onlySpan(applied.traceId(), "process " + name);
    assertThat(processed.getParentSpanId()).isEqualTo(applied.spanId());
    assertThat(processed.getKind()).isEqualTo(SpanKind.CONSUMER);
    assertThat(processed.getAttributes().get(OUTCOME)).isEqualTo("processed");
    assertThat(processed.getAttributes().get(CONSUMER)).isEqualTo(name);
    assertThat(processed.getAttributes().get(TOPIC)).isEqualTo(name);
    assertThat(processed.getAttributes().get(PARTITION)).isEqualTo("0");
    assertThat(processed.getAttributes().get(EVENT_ID)).isEqualTo("e-1");
    assertThat(processed.getAttributes().get(ATTEMPT)).isEqualTo("1");
    assertThat(mdcInHandler.get("one@0"))
        .as("the handler's MDC holds its span's trace and span ids")
        .containsExactly(applied.traceId(), processed.getSpanId());

    SpanData duplicate = onlySpan(copy.traceId(), "process " + name);
    assertThat(duplicate.getParentSpanId()).isEqualTo(copy.spanId());
    assertThat(duplicate.getAttributes().get(OUTCOME)).isEqualTo("duplicate");
    assertThat(mdcInHandler).doesNotContainKey("one@1");

    SpanData failed = onlySpan(poisoned.traceId(), "process " + name);
    assertThat(failed.getParentSpanId()).isEqualTo(poisoned.spanId());
    assertThat(failed.getAttributes().get(OUTCOME)).isEqualTo("failed");
    assertThat(failed.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    SpanData deadLettered = onlySpan(poisoned.traceId(), "dead-letter " + name);
    assertThat(deadLettered.getParentSpanId()).isEqualTo(poisoned.spanId());
    assertThat(deadLettered.getAttributes().get(OUTCOME)).isEqualTo("dead-lettered");
    assertThat(deadLettered.getAttributes().get(OPERATION)).isEqualTo("dead-letter");
    SpanData publish = onlySpan(poisoned.traceId(), "send " + deadLetters);
    assertThat(publish.getParentSpanId()).isEqualTo(deadLettered.getSpanId());
    assertThat(publish.getKind()).isEqualTo(SpanKind.PRODUCER);

    // On the dead-letter topic: one traceparent, the publish span's, in the original trace.
    ConsumerRecord<byte[], byte[]> letter = readOne(deadLetters);
    List<String> traceparents = new ArrayList<>();
    for (Header h : letter.headers().headers(Traceparent.HEADER)) {
      traceparents.add(new String(h.value(), StandardCharsets.UTF_8));
    }
    assertThat(traceparents).hasSize(1);
    Traceparent onTopic = Traceparent.parse(traceparents.get(0));
    assertThat(onTopic.traceId()).isEqualTo(poisoned.traceId());
    assertThat(onTopic.spanId()).isEqualTo(publish.getSpanId());
    // In the table: the record's own headers, its traceparent as it came.
    assertThat(
            strings(
                "SELECT headers::text FROM "
                    + config.schema()
                    + "."
                    + config.deadLetterTable()
                    + " WHERE event_id = 'e-2'"))
        .singleElement()
        .asString()
        .contains(
            Base64.getEncoder()
                .encodeToString(poisoned.toString().getBytes(StandardCharsets.UTF_8)));

    poisonFixed.set(true);
    try (HikariDataSource pool = pool(2);
        DeadLetterReplayer replayer = DeadLetterReplayer.create(config, pool)) {
      assertThat(replayer.replay(DeadLetterReplayer.Request.all(10)).replayed())
          .containsExactly("e-2");
    }
    awaitTrue(
        Duration.ofSeconds(30), "the replay applied", () -> consumer.snapshot().processed() == 2);
    SpanData replayed =
        awaitSpan(
            s ->
                s.getName().equals("process " + name)
                    && "e-2".equals(s.getAttributes().get(EVENT_ID))
                    && "processed".equals(s.getAttributes().get(OUTCOME)));
    assertThat(replayed.getTraceId())
        .as("a replay starts a new trace")
        .isNotEqualTo(poisoned.traceId());
    assertThat(replayed.getParentSpanContext().isValid()).isFalse();
    assertThat(replayed.getLinks())
        .extracting(l -> l.getSpanContext().getTraceId() + "/" + l.getSpanContext().getSpanId())
        .containsExactly(poisoned.traceId() + "/" + poisoned.spanId());
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(2);
  }

  @Test
  void aBatchIsOneSpanLinkedToItsRecordsTraces() throws Exception {
    String name = TestInfrastructure.uniqueName("tracing-batch");
    INFRA.createTopics(1, name);
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(
                    config(name, name).batchSize(50).build(), Payloads.utf8(), closer.add(pool(4)))
                .observationRegistry(tracedRegistry())
                .batchHandler((events, ctx) -> {})
                .build());
    List<Traceparent> traces = List.of(newTrace(), newTrace(), newTrace());
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < traces.size(); i++) {
      records.add(traced(record(name, 0, "k" + i, "b-" + i, "v" + i), traces.get(i)));
    }
    send(records); // before the start, so that one poll returns all three
    consumer.start();
    awaitTrue(Duration.ofSeconds(30), "three applied", () -> consumer.snapshot().processed() == 3);

    List<SpanData> batches = awaitSpans(s -> s.getName().equals("batch " + name), 1);
    List<String> linked = new ArrayList<>();
    for (SpanData b : batches) {
      assertThat(b.getKind()).isEqualTo(SpanKind.CONSUMER);
      assertThat(b.getAttributes().get(OUTCOME)).isEqualTo("processed");
      assertThat(b.getAttributes().get(OPERATION)).isEqualTo("batch");
      assertThat(b.getParentSpanContext().isValid()).as("a batch starts its own trace").isFalse();
      for (LinkData l : b.getLinks()) {
        linked.add(l.getSpanContext().getTraceId() + "/" + l.getSpanContext().getSpanId());
      }
    }
    assertThat(linked)
        .as("one link per record, to its producer's span, and no child span per record")
        .containsExactlyInAnyOrderElementsOf(
            traces.stream().map(t -> t.traceId() + "/" + t.spanId()).toList());
    assertThat(spans.getFinishedSpanItems())
        .filteredOn(s -> s.getName().startsWith("process "))
        .isEmpty();
  }

  private static Traceparent newTrace() {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    return new Traceparent(
        HexFormat.of().toHexDigits(r.nextLong() | 1) + HexFormat.of().toHexDigits(r.nextLong()),
        HexFormat.of().toHexDigits(r.nextLong() | 1),
        true);
  }

  private static ProducerRecord<byte[], byte[]> traced(
      ProducerRecord<byte[], byte[]> record, Traceparent trace) {
    record.headers().add(Traceparent.HEADER, trace.toString().getBytes(StandardCharsets.UTF_8));
    return record;
  }

  private SpanData onlySpan(String traceId, String spanName) {
    return awaitSpans(s -> s.getTraceId().equals(traceId) && s.getName().equals(spanName), 1)
        .get(0);
  }

  private SpanData awaitSpan(java.util.function.Predicate<SpanData> which) {
    return awaitSpans(which, 1).get(0);
  }

  private List<SpanData> awaitSpans(java.util.function.Predicate<SpanData> which, int atLeast) {
    awaitTrue(
        Duration.ofSeconds(20),
        "spans exported",
        () -> spans.getFinishedSpanItems().stream().filter(which).count() >= atLeast);
    return spans.getFinishedSpanItems().stream().filter(which).toList();
  }
}
