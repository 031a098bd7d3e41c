package dev.idem.consumer.internal.metrics;

import dev.idem.consumer.ConsumerHealth;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.function.Supplier;

/**
 * The health of one consumer as gauges, so that a dashboard shows every instance's state and an
 * alert fires on it: {@code idem.consumer.ready} and {@code idem.consumer.live}, 1 or 0, tagged
 * with the consumer's name. Registered at start; {@link #close()} removes them when the consumer is
 * closed on purpose (a failed consumer keeps reporting 0).
 */
public final class HealthGauges implements AutoCloseable {
  private final MeterRegistry registry;
  private final List<Gauge> gauges;

  private HealthGauges(MeterRegistry registry, List<Gauge> gauges) {
    this.registry = registry;
    this.gauges = gauges;
  }

  /** Registers the gauges of {@code consumer}, read from {@code health} at each scrape. */
  public static HealthGauges register(
      MeterRegistry registry, String consumer, Supplier<ConsumerHealth> health) {
    return new HealthGauges(
        registry,
        List.of(
            Gauge.builder("idem.consumer.ready", () -> health.get().ready() ? 1 : 0)
                .description(
                    "1 while the consumer is running with its database and a broker reachable and"
                        + " its poll loop turning, else 0 (ConsumerHealth.ready())")
                .tag("consumer", consumer)
                .register(registry),
            Gauge.builder("idem.consumer.live", () -> health.get().live() ? 1 : 0)
                .description(
                    "1 unless the consumer failed or its poll loop stalled, else 0"
                        + " (ConsumerHealth.live())")
                .tag("consumer", consumer)
                .register(registry)));
  }

  @Override
  public void close() {
    gauges.forEach(registry::remove);
  }
}
