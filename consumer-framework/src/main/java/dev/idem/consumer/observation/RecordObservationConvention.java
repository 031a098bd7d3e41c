package dev.idem.consumer.observation;

import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationConvention;

/**
 * Names and tags record observations. Replace idem's {@link DefaultRecordObservationConvention} by
 * registering a {@link io.micrometer.observation.GlobalObservationConvention} of this context on
 * the registry, or by extending the default one.
 */
public interface RecordObservationConvention
    extends ObservationConvention<RecordObservationContext> {
  @Override
  default boolean supportsContext(Observation.Context context) {
    return context instanceof RecordObservationContext;
  }
}
