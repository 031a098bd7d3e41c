package dev.idem.testkit;

import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.otel.bridge.OtelBaggageManager;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelPropagator;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.micrometer.tracing.propagation.Propagator;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SpanProcessor;
import java.util.List;

/**
 * Micrometer Tracing over the OpenTelemetry SDK, W3C propagation, every span sampled and handed to
 * one span processor (the in-memory exporter's in tests, a batch processor in the benchmark). Needs
 * {@code io.micrometer:micrometer-tracing-bridge-otel} and {@code
 * io.opentelemetry:opentelemetry-sdk} on the class path: optional dependencies of the testkit.
 *
 * <pre>{@code
 * InMemorySpanExporter spans = InMemorySpanExporter.create();
 * OtelTracing tracing = OtelTracing.start(SimpleSpanProcessor.create(spans));
 * ObservationRegistry observations =
 *     IdemTracing.register(ObservationRegistry.create(), tracing.tracer(), tracing.propagator());
 * }</pre>
 *
 * @param tracer the Micrometer tracer
 * @param propagator the Micrometer propagator (W3C {@code traceparent})
 * @param provider the SDK's tracer provider; {@link #close} flushes and closes it
 */
public record OtelTracing(Tracer tracer, Propagator propagator, SdkTracerProvider provider)
    implements AutoCloseable {

  /** Tracing whose finished spans go to {@code processor}. */
  public static OtelTracing start(SpanProcessor processor) {
    SdkTracerProvider provider = SdkTracerProvider.builder().addSpanProcessor(processor).build();
    OpenTelemetrySdk sdk =
        OpenTelemetrySdk.builder()
            .setTracerProvider(provider)
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();
    io.opentelemetry.api.trace.Tracer otel = sdk.getTracer("dev.idem");
    OtelCurrentTraceContext current = new OtelCurrentTraceContext();
    OtelTracer tracer =
        new OtelTracer(
            otel, current, event -> {}, new OtelBaggageManager(current, List.of(), List.of()));
    return new OtelTracing(tracer, new OtelPropagator(sdk.getPropagators(), otel), provider);
  }

  @Override
  public void close() {
    provider.close();
  }
}
