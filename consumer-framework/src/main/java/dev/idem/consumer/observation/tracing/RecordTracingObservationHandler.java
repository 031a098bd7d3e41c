package dev.idem.consumer.observation.tracing;

import dev.idem.consumer.observation.RecordObservationContext;
import io.micrometer.observation.Observation;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.handler.PropagatingReceiverTracingObservationHandler;
import io.micrometer.tracing.propagation.Propagator;

/**
 * Micrometer's receiver handler for idem's record observations, plus span links: a replayed dead
 * letter's span starts a new trace and links to the original one. Without it, Micrometer's own
 * receiver handler traces these records the same, minus the link.
 */
public class RecordTracingObservationHandler
    extends PropagatingReceiverTracingObservationHandler<RecordObservationContext> {
  private final Tracer tracer;

  /**
   * A handler that starts spans with {@code tracer}, extracting parents with {@code propagator}.
   */
  public RecordTracingObservationHandler(Tracer tracer, Propagator propagator) {
    super(tracer, propagator);
    this.tracer = tracer;
  }

  @Override
  public Span.Builder customizeExtractedSpan(
      RecordObservationContext context, Span.Builder builder) {
    return Links.add(tracer, builder, context.links());
  }

  @Override
  public boolean supportsContext(Observation.Context context) {
    return context instanceof RecordObservationContext;
  }
}
