package dev.idem.consumer.internal.observation;

import io.micrometer.observation.Observation;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.handler.TracingObservationHandler;

/**
 * The trace and span ids Micrometer Tracing gave an observation, read only when Micrometer Tracing
 * is on the class path (an optional dependency of idem).
 */
final class TraceIds {
  private static final boolean TRACING = present();

  private TraceIds() {}

  private static boolean present() {
    try {
      Class.forName(
          "io.micrometer.tracing.handler.TracingObservationHandler$TracingContext",
          false,
          TraceIds.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /** {trace id, span id}, or null when the observation has no span. */
  static String[] of(Observation observation) {
    return TRACING ? Holder.of(observation) : null;
  }

  /** Loaded only when Micrometer Tracing is present. */
  private static final class Holder {
    static String[] of(Observation observation) {
      TracingObservationHandler.TracingContext tc =
          observation.getContextView().get(TracingObservationHandler.TracingContext.class);
      Span span = tc == null ? null : tc.getSpan();
      if (span == null || span.isNoop()) {
        return null;
      }
      return new String[] {span.context().traceId(), span.context().spanId()};
    }
  }
}
