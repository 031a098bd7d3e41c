/**
 * Micrometer Tracing handlers for idem's observations. {@link IdemTracing#register} puts them ahead
 * of Micrometer's generic handlers.
 *
 * <p>{@link RecordTracingObservationHandler} continues a record's {@code traceparent} and links a
 * replayed dead letter to its original trace. {@link BatchTracingObservationHandler} gives a batch
 * one span with a link to each record's trace. Micrometer Tracing is an optional dependency of
 * idem. This package uses only {@code dev.idem.consumer.observation}.
 */
package dev.idem.consumer.observation.tracing;
