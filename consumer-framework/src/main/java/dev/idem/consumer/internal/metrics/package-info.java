/**
 * A consumer's Micrometer meters.
 *
 * <p>{@link ConsumerMetrics} holds the {@code idem.*} counters, timers and gauges, tagged with
 * consumer and topic. {@link HealthGauges} exports {@code idem.consumer.ready} and {@code
 * idem.consumer.live}. It uses the public API's types and no other internal package.
 */
package dev.idem.consumer.internal.metrics;
