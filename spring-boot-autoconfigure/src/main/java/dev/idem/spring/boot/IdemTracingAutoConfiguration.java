package dev.idem.spring.boot;

import dev.idem.consumer.observation.tracing.BatchTracingObservationHandler;
import dev.idem.consumer.observation.tracing.RecordTracingObservationHandler;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.propagation.Propagator;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.annotation.Order;

/**
 * idem's tracing handlers in an application with Micrometer Tracing (a {@link Tracer} and a {@link
 * Propagator} bean, as Boot's OpenTelemetry or Brave support declares them). Boot puts every
 * tracing handler bean into one first-matching group in {@code @Order}; idem's come at {@value
 * #ORDER}, before Boot's receiver handler (1000), which would otherwise take a record's observation
 * and miss what idem adds: the span links of batches and replays. See {@code docs/operations.md}.
 */
@AutoConfiguration(
    afterName = {
      "org.springframework.boot.micrometer.tracing.opentelemetry.autoconfigure.OpenTelemetryTracingAutoConfiguration",
      "org.springframework.boot.micrometer.tracing.brave.autoconfigure.BraveAutoConfiguration",
      "org.springframework.boot.micrometer.tracing.autoconfigure.MicrometerTracingAutoConfiguration"
    })
@ConditionalOnClass(Tracer.class)
@ConditionalOnBean({Tracer.class, Propagator.class})
@ConditionalOnBooleanProperty(name = "idem.enabled", matchIfMissing = true)
public class IdemTracingAutoConfiguration {
  /** The {@code @Order} of idem's tracing handlers: ahead of Boot's. */
  public static final int ORDER = 500;

  @Bean
  @ConditionalOnMissingBean
  @Order(ORDER)
  RecordTracingObservationHandler idemRecordTracingObservationHandler(
      Tracer tracer, Propagator propagator) {
    return new RecordTracingObservationHandler(tracer, propagator);
  }

  @Bean
  @ConditionalOnMissingBean
  @Order(ORDER)
  BatchTracingObservationHandler idemBatchTracingObservationHandler(Tracer tracer) {
    return new BatchTracingObservationHandler(tracer);
  }
}
