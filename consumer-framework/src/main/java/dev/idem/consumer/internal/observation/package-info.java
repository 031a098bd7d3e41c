/**
 * Creates the observations of idem's transactions.
 *
 * <p>{@link Observations} builds record and batch observations, and nothing when the registry is
 * {@code NOOP}. Each is an {@link IsolatedObservation}, which keeps the failures of the registry's
 * handlers and conventions (user code) away from the attempt it observes. It also puts trace ids
 * into the logging MDC. {@code TraceIds} reads them only when Micrometer Tracing is on the class
 * path. It uses the public {@code dev.idem.consumer.observation} types and no other internal
 * package.
 */
package dev.idem.consumer.internal.observation;
