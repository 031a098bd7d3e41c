package dev.idem.consumer.internal.outbox;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The relay's {@code idem.outbox.*} meters, tagged {@code relay=<name>}. The gauges read the
 * runtime, which Micrometer holds weakly: a relay dropped without a close stops being reported
 * instead of being kept alive by its registry.
 */
final class RelayMeters {
  private final Counter published;
  private final Counter fenced;

  RelayMeters(MeterRegistry registry, String relay, RelayRuntime runtime) {
    this.published =
        Counter.builder("idem.outbox.published")
            .description(
                "Outbox records published to Kafka (a repeat after a failover counts again)")
            .tag("relay", relay)
            .register(registry);
    this.fenced =
        Counter.builder("idem.outbox.fenced")
            .description(
                "Rounds this relay sent but could not mark: a newer leader's epoch refused the mark")
            .tag("relay", relay)
            .register(registry);
    Gauge.builder(
            "idem.outbox.pending", runtime, r -> r.isLeader() ? r.backlog().rows() : Double.NaN)
        .description("Outbox rows not yet sent, as the leader relay last counted (NaN elsewhere)")
        .tag("relay", relay)
        .register(registry);
    Gauge.builder(
            "idem.outbox.oldest.pending.age",
            runtime,
            r -> r.isLeader() ? r.backlog().oldestSeconds() : Double.NaN)
        .description("Seconds since the oldest unsent outbox row was written (leader relay only)")
        .baseUnit("seconds")
        .tag("relay", relay)
        .register(registry);
    Gauge.builder("idem.outbox.leader", runtime, r -> r.isLeader() ? 1 : 0)
        .description("1 on the instance whose relay publishes now")
        .tag("relay", relay)
        .register(registry);
  }

  /** Counts records sent in a committed Kafka transaction. */
  void published(int records) {
    published.increment(records);
  }

  /** Counts a round that was sent but whose mark a newer leader's epoch refused. */
  void fenced() {
    fenced.increment();
  }
}
