package dev.idem.consumer.observation.tracing;

import dev.idem.consumer.observation.Traceparent;
import io.micrometer.tracing.Link;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.Tracer;
import java.util.List;

/** Adds span links to W3C trace contexts, whatever the tracer's own propagation format. */
final class Links {
  private Links() {}

  static Span.Builder add(Tracer tracer, Span.Builder builder, List<Traceparent> links) {
    for (Traceparent t : links) {
      builder.addLink(
          new Link(
              tracer
                  .traceContextBuilder()
                  .traceId(t.traceId())
                  .spanId(t.spanId())
                  .sampled(t.sampled())
                  .build()));
    }
    return builder;
  }
}
