package dev.idem.bench;

import dev.idem.consumer.observation.tracing.IdemTracing;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.tracing.otel.bridge.OtelBaggageManager;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelPropagator;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.List;
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
  private final SdkTracerProvider provider;
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
    this.provider =
        SdkTracerProvider.builder()
            .addSpanProcessor(BatchSpanProcessor.builder(counting).build())
            .build();
    OpenTelemetrySdk sdk =
        OpenTelemetrySdk.builder()
            .setTracerProvider(provider)
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();
    io.opentelemetry.api.trace.Tracer otel = sdk.getTracer("idem-benchmark");
    OtelCurrentTraceContext current = new OtelCurrentTraceContext();
    OtelTracer tracer =
        new OtelTracer(
            otel, current, event -> {}, new OtelBaggageManager(current, List.of(), List.of()));
    this.registry =
        IdemTracing.register(
            ObservationRegistry.create(), tracer, new OtelPropagator(sdk.getPropagators(), otel));
  }

  ObservationRegistry registry() {
    return registry;
  }

  /** Flushes the processor and answers the spans exported so far. */
  long exported() {
    provider.forceFlush().join(10, TimeUnit.SECONDS);
    return exported.sum();
  }

  @Override
  public void close() {
    provider.close();
  }
}
