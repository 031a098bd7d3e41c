package dev.idem.bench;

import dev.idem.consumer.observation.tracing.IdemTracing;
import dev.idem.testkit.OtelTracing;
import io.micrometer.observation.ObservationRegistry;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The traced scenarios' observation registry: Micrometer Tracing over the OpenTelemetry SDK, every
 * span sampled and handed to a batch span processor, as a production set-up would; its exporter
 * counts the spans and drops them, so the figures hold the cost of making spans, not of shipping
 * them.
 */
final class TracedRegistry implements AutoCloseable {
  private final LongAdder exported = new LongAdder();
  private final OtelTracing tracing;
  private final ObservationRegistry registry;

  TracedRegistry() {
    SpanExporter counting =
        new SpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> spans) {
            exported.add(spans.size());
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    this.tracing = OtelTracing.start(BatchSpanProcessor.builder(counting).build());
    this.registry =
        IdemTracing.register(ObservationRegistry.create(), tracing.tracer(), tracing.propagator());
  }

  ObservationRegistry registry() {
    return registry;
  }

  /** Flushes the processor and answers the spans exported so far. */
  long exported() {
    tracing.provider().forceFlush().join(10, TimeUnit.SECONDS);
    return exported.sum();
  }

  @Override
  public void close() {
    tracing.close();
  }
}
