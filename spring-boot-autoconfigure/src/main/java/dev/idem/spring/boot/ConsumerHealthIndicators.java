package dev.idem.spring.boot;

import dev.idem.consumer.ConsumerHealth;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Each consumer's {@link ConsumerHealth} as Boot health indicators: {@code idemReadiness.<name>} is
 * down while the consumer is not ready (the database or the broker is out, it is not running, too
 * many workers are stuck: stop sending it traffic, do not restart it), {@code idemLiveness.<name>}
 * only when its poll loop is dead (restart it). The starter adds them to Boot's {@code readiness}
 * and {@code liveness} health groups.
 */
final class ConsumerHealthIndicators {
  private ConsumerHealthIndicators() {}

  static HealthContributor readiness(IdemConsumers consumers) {
    return composite(consumers, ConsumerHealth::ready);
  }

  static HealthContributor liveness(IdemConsumers consumers) {
    return composite(consumers, ConsumerHealth::live);
  }

  private static HealthContributor composite(
      IdemConsumers consumers, Predicate<ConsumerHealth> up) {
    if (consumers.names().isEmpty()) {
      return (HealthIndicator) () -> Health.up().withDetail("consumers", 0).build();
    }
    Map<String, HealthIndicator> indicators = new LinkedHashMap<>();
    consumers.names().forEach(name -> indicators.put(name, indicator(consumers, name, up)));
    return CompositeHealthContributor.fromMap(indicators);
  }

  private static HealthIndicator indicator(
      IdemConsumers consumers, String name, Predicate<ConsumerHealth> up) {
    return () -> {
      ConsumerHealth h = consumers.health(name);
      Health.Builder b = up.test(h) ? Health.up() : Health.down();
      return b.withDetail("state", h.state().name())
          .withDetail("databaseReachable", h.databaseReachable())
          .withDetail("brokerReachable", h.brokerReachable())
          .withDetail("sinceLastPollMs", h.sinceLastPoll().toMillis())
          .withDetail("assignedPartitions", h.assigned().size())
          .withDetail("inFlight", h.inFlight())
          .withDetail("stuckWorkers", h.stuckWorkers())
          .build();
    };
  }
}
