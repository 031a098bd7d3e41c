package dev.idem.consumer.observation.tracing;

import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.handler.DefaultTracingObservationHandler;
import io.micrometer.tracing.handler.PropagatingReceiverTracingObservationHandler;
import io.micrometer.tracing.handler.PropagatingSenderTracingObservationHandler;
import io.micrometer.tracing.propagation.Propagator;
import java.util.List;

/**
 * The tracing handlers of idem's observations, for applications that set up Micrometer Tracing
 * themselves (with the OpenTelemetry or the Brave bridge). They must come before Micrometer's
 * generic tracing handlers in the registry's first-matching group, which {@link #register} does:
 *
 * <pre>{@code
 * ObservationRegistry registry = ObservationRegistry.create();
 * IdemTracing.register(registry, tracer, propagator);
 * IdempotentConsumer.builder(config)...observationRegistry(registry).build();
 * }</pre>
 *
 * <p>Span links (batches, replays) need a bridge whose tracer supports them; idem builds them from
 * W3C {@code traceparent} headers.
 */
public final class IdemTracing {
  private IdemTracing() {}

  /**
   * idem's handlers followed by Micrometer's generic sender, receiver and default tracing handlers:
   * what belongs in one {@link ObservationHandler.FirstMatchingCompositeObservationHandler}.
   */
  public static List<ObservationHandler<?>> handlers(Tracer tracer, Propagator propagator) {
    return List.of(
        new RecordTracingObservationHandler(tracer, propagator),
        new BatchTracingObservationHandler(tracer),
        new PropagatingSenderTracingObservationHandler<>(tracer, propagator),
        new PropagatingReceiverTracingObservationHandler<>(tracer, propagator),
        new DefaultTracingObservationHandler(tracer));
  }

  /** Registers {@link #handlers} on {@code registry} as one first-matching group. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static ObservationRegistry register(
      ObservationRegistry registry, Tracer tracer, Propagator propagator) {
    registry
        .observationConfig()
        .observationHandler(
            new ObservationHandler.FirstMatchingCompositeObservationHandler(
                (List) handlers(tracer, propagator)));
    return registry;
  }
}
