/**
 * The Micrometer observations of idem's transactions, public so that applications can rename and
 * retag them.
 *
 * <p>{@link RecordObservationContext} covers one record's transaction or dead letter; {@link
 * BatchObservationContext} covers a batch or a grouped transaction. Each has a convention interface
 * and idem's default. {@link Traceparent} reads the W3C header of a record. {@code
 * internal.observation} creates the observations. This package uses Micrometer and Kafka's record
 * types, and no other idem package.
 */
package dev.idem.consumer.observation;
