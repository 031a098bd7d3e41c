package dev.idem.consumer.observation;

import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationConvention;

/**
 * Names and tags batch and grouped-transaction observations; see {@link
 * RecordObservationConvention}.
 */
public interface BatchObservationConvention extends ObservationConvention<BatchObservationContext> {
  @Override
  default boolean supportsContext(Observation.Context context) {
    return context instanceof BatchObservationContext;
  }
}
