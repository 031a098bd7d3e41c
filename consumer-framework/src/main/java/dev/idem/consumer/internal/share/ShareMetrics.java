package dev.idem.consumer.internal.share;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The meters only share groups have: {@code idem.share.redelivered} (deliveries after the first, by
 * topic) and {@code idem.share.acknowledgements.failed} (acknowledgements the broker refused,
 * mostly because the record's acquisition lock had expired and it went to another consumer).
 */
final class ShareMetrics {
  private final MeterRegistry registry;
  private final String consumer;

  ShareMetrics(MeterRegistry registry, String consumer) {
    this.registry = registry;
    this.consumer = consumer;
  }

  void redelivered(String topic) {
    counter("idem.share.redelivered", topic).increment();
  }

  void acknowledgementFailed(String topic) {
    counter("idem.share.acknowledgements.failed", topic).increment();
  }

  double acknowledgementsFailed() {
    return registry
        .find("idem.share.acknowledgements.failed")
        .tag("consumer", consumer)
        .counters()
        .stream()
        .mapToDouble(Counter::count)
        .sum();
  }

  private Counter counter(String name, String topic) {
    return Counter.builder(name).tag("consumer", consumer).tag("topic", topic).register(registry);
  }
}
