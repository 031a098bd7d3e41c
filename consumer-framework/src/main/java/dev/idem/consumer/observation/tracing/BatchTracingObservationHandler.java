package dev.idem.consumer.observation.tracing;

import dev.idem.consumer.observation.BatchObservationContext;
import io.micrometer.observation.Observation;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.handler.TracingObservationHandler;

/**
 * Traces idem's batch and grouped transactions: one consumer span per transaction, child of the
 * current span (a new trace on idem's worker threads), with a span link to each record's producer
 * trace rather than one child span per record. Without it, Micrometer's default tracing handler
 * traces them as plain spans without links.
 */
public class BatchTracingObservationHandler
    implements TracingObservationHandler<BatchObservationContext> {
  private final Tracer tracer;

  /** A handler that starts spans with {@code tracer}. */
  public BatchTracingObservationHandler(Tracer tracer) {
    this.tracer = tracer;
  }

  @Override
  public void onStart(BatchObservationContext context) {
    Span.Builder builder = tracer.spanBuilder().kind(Span.Kind.CONSUMER);
    Span parent = getParentSpan(context);
    if (parent != null) {
      builder.setParent(parent.context());
    } else {
      builder.setNoParent();
    }
    getTracingContext(context).setSpan(Links.add(tracer, builder, context.links()).start());
  }

  @Override
  public void onError(BatchObservationContext context) {
    if (context.getError() != null) {
      getRequiredSpan(context).error(context.getError());
    }
  }

  @Override
  public void onStop(BatchObservationContext context) {
    Span span = getRequiredSpan(context);
    tagSpan(context, span);
    span.name(getSpanName(context));
    endSpan(context, span);
  }

  @Override
  public boolean supportsContext(Observation.Context context) {
    return context instanceof BatchObservationContext;
  }

  @Override
  public Tracer getTracer() {
    return tracer;
  }
}
