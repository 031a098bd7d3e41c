package dev.idem.consumer.internal.share;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The meters only share groups have, by consumer and topic: {@code idem.share.redelivered}
 * (deliveries after the first), {@code idem.share.acknowledgements.failed} (acknowledgements the
 * broker refused, mostly because the record's acquisition lock had expired and it went to another
 * consumer), {@code idem.share.renewals} (records whose lock was renewed while in work), {@code
 * idem.share.renewals.refused} (renewals the broker refused: that delivery ended) and {@code
 * idem.share.answers.late} (answers of work that outlived its delivery, dropped).
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

  void renewed(String topic) {
    counter("idem.share.renewals", topic).increment();
  }

  void renewalRefused(String topic) {
    counter("idem.share.renewals.refused", topic).increment();
  }

  void lateAnswer(String topic) {
    counter("idem.share.answers.late", topic).increment();
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
