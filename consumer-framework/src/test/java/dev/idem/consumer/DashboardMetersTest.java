package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The meters a dashboard and its alerts read, from a running consumer's own registry: percentile
 * histograms on transaction time and lock wait, the owned pool's Hikari meters, a health gauge per
 * consumer, and the Kafka client metrics of idem's consumer and dead-letter producer.
 */
class DashboardMetersTest {
  @RegisterExtension final Closer closer = new Closer();

  @Test
  void aRunningConsumerPublishesTheDashboardsMetersAndTakesThemAwayWhenClosed() throws Exception {
    String name = TestInfrastructure.uniqueName("dashboard");
    String effects = name.replace('-', '_');
    String deadLetters = name + "-dead";
    INFRA.createTopics(1, name, deadLetters);
    createEffectsTable(effects);
    MeterRegistry registry = new SimpleMeterRegistry();
    // A simple registry exports no histogram buckets (only registries with aggregable percentiles
    // do), so read what each timer asks for as it registers.
    Set<String> histograms = ConcurrentHashMap.newKeySet();
    registry
        .config()
        .meterFilter(
            new MeterFilter() {
              @Override
              public DistributionStatisticConfig configure(
                  Meter.Id id, DistributionStatisticConfig config) {
                if (Boolean.TRUE.equals(config.isPercentileHistogram())
                    && name.equals(id.getTag("consumer"))) {
                  histograms.add(id.getName());
                }
                return config;
              }
            });
    IdempotentConsumer<String> consumer =
        closer.add(meteredConsumer(name, effects, deadLetters, registry));
    consumer.start();
    send(List.of(record(name, 0, "k", "e1", "one"), record(name, 0, "k", "e2", "poison")));
    awaitTrue(
        Duration.ofSeconds(30),
        "one applied, one dead-lettered",
        () -> {
          var s = consumer.snapshot();
          return s.processed() == 1 && s.deadLettered() == 1;
        });

    for (String timer : List.of("idem.transaction.time", "idem.lock.wait")) {
      Timer t = registry.find(timer).tag("consumer", name).timer();
      assertThat(t).as(timer).isNotNull();
      assertThat(t.count()).as("%s recorded", timer).isPositive();
    }
    assertThat(histograms)
        .as("timers publishing a percentile histogram")
        .contains("idem.transaction.time", "idem.lock.wait")
        .doesNotContain("idem.handler.time");
    assertThat(registry.find("hikaricp.connections.active").gauge())
        .as("the owned pool's Hikari meters")
        .isNotNull();
    assertThat(registry.find("hikaricp.connections.pending").gauge()).isNotNull();
    Gauge ready = registry.find("idem.consumer.ready").tag("consumer", name).gauge();
    assertThat(ready).isNotNull();
    assertThat(ready.value()).isEqualTo(1.0);
    assertThat(registry.find("idem.consumer.live").tag("consumer", name).gauge().value())
        .isEqualTo(1.0);
    assertThat(clientMeters(registry, "kafka.consumer.", name))
        .as("the Kafka consumer's client metrics")
        .isNotEmpty();
    assertThat(clientMeters(registry, "kafka.producer.", name))
        .as("the dead-letter producer's client metrics")
        .isNotEmpty();
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(1);

    consumer.close();

    assertThat(registry.find("idem.consumer.ready").tag("consumer", name).gauge()).isNull();
    assertThat(clientMeters(registry, "kafka.consumer.", name)).isEmpty();
    assertThat(clientMeters(registry, "kafka.producer.", name)).isEmpty();
  }

  @Test
  void aShareConsumerHasTheHealthGaugesToo() throws Exception {
    String name = TestInfrastructure.uniqueName("dashboard-share");
    INFRA.createTopics(1, name);
    MeterRegistry registry = new SimpleMeterRegistry();
    IdempotentShareConsumer<String> consumer =
        closer.add(
            shareConsumerBuilder(
                    ShareGroupTest.config(name, name).build(), Payloads.utf8(), closer.add(pool(4)))
                .meterRegistry(registry)
                .handler((value, ctx) -> {})
                .build());
    consumer.start();
    awaitTrue(
        Duration.ofSeconds(30),
        "ready",
        () -> registry.find("idem.consumer.ready").tag("consumer", name).gauge().value() == 1.0);
    consumer.close();
    assertThat(registry.find("idem.consumer.ready").tag("consumer", name).gauge()).isNull();
  }

  /**
   * A consumer that opens its own pool from {@code pg.*}, dead-letters to {@code deadLetters} and
   * reports to {@code registry}: every kind of meter a dashboard reads. Its handler inserts into
   * {@code effects} and throws {@link NonRetryableException} on the value {@code poison}.
   */
  static IdempotentConsumer<String> meteredConsumer(
      String name, String effects, String deadLetters, MeterRegistry registry) {
    return IdempotentConsumer.builder(
            config(name, name)
                .database(
                    INFRA.postgres().jdbcUrl(),
                    INFRA.postgres().user(),
                    INFRA.postgres().password(),
                    4)
                .deadLetterTopic(deadLetters)
                .build(),
            Payloads.utf8())
        .meterRegistry(registry)
        .eventIds(EventIds.header("webhook-id"))
        .handler(
            (value, ctx) -> {
              if (value.equals("poison")) {
                throw new NonRetryableException("poison");
              }
              insertEffect(effects, value, ctx);
            })
        .build();
  }

  private static List<Meter> clientMeters(MeterRegistry registry, String prefix, String consumer) {
    return registry.getMeters().stream()
        .filter(m -> m.getId().getName().startsWith(prefix))
        .filter(m -> consumer.equals(m.getId().getTag("consumer")))
        .toList();
  }
}
