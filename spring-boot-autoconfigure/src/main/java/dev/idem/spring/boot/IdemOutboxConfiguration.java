package dev.idem.spring.boot;

import dev.idem.consumer.outbox.Outbox;
import dev.idem.consumer.outbox.OutboxRelay;
import dev.idem.consumer.outbox.OutboxRelayHealth;
import dev.idem.lock.AdvisoryLocks;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * The transactional outbox, with {@code idem.outbox.enabled=true}: an {@link Outbox} bean on the
 * application's database (its table applied at start unless {@code idem.apply-schema=false}) and,
 * unless {@code idem.outbox.relay.enabled=false}, an {@link OutboxRelay} started with the context
 * (one instance of the application publishes at a time) and an {@code idemOutboxRelay} health
 * indicator. The relay's Kafka connection comes from {@code spring.kafka.*} like the consumers',
 * with {@code idem.outbox.relay.kafka.*} on top.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnBooleanProperty(name = "idem.outbox.enabled")
class IdemOutboxConfiguration {
  /** Stops after the consumers, so that their last rows can still go out; starts before them. */
  static final int RELAY_PHASE = IdemConsumers.PHASE - 1;

  @Bean
  @ConditionalOnMissingBean
  Outbox idemOutbox(
      ConfigurableListableBeanFactory beans,
      Environment environment,
      ObjectProvider<DataSource> dataSources) {
    Binder binder = Binder.get(environment);
    Outbox.Builder builder = Outbox.builder();
    identifier(binder, "idem.outbox.schema", builder::schema);
    identifier(binder, "idem.outbox.table", builder::table);
    binder.bind("idem.outbox.max-record-bytes", Integer.class).ifBound(builder::maxRecordBytes);
    Outbox outbox = builder.build();
    if (binder.bind("idem.apply-schema", Boolean.class).orElse(true)) {
      outbox.applySchema(IdemAutoConfiguration.dataSource(beans, dataSources));
    }
    return outbox;
  }

  /** Hands a bound {@code property} to {@code setter}, whose refusal names the property. */
  private static void identifier(Binder binder, String property, Consumer<String> setter) {
    binder
        .bind(property, String.class)
        .ifBound(
            value -> {
              try {
                setter.accept(value);
              } catch (IllegalArgumentException e) {
                throw new InvalidIdemPropertyException(
                    property, e.getMessage(), "use a lower-case SQL identifier");
              }
            });
  }

  @Bean
  @ConditionalOnMissingBean
  @ConditionalOnBooleanProperty(name = "idem.outbox.relay.enabled", matchIfMissing = true)
  OutboxRelay idemOutboxRelay(
      Outbox outbox,
      AdvisoryLocks locks,
      ConfigurableListableBeanFactory beans,
      Environment environment,
      ObjectProvider<DataSource> dataSources,
      ObjectProvider<MeterRegistry> registries) {
    Binder binder = Binder.get(environment);
    Map<String, Object> kafka = new LinkedHashMap<>(ConsumerDefinitions.springKafka(binder));
    binder
        .bind("idem.outbox.relay.kafka", Bindable.mapOf(String.class, String.class))
        .ifBound(kafka::putAll);
    if (!kafka.containsKey("bootstrap.servers")) {
      throw new InvalidIdemPropertyException(
          "spring.kafka.bootstrap-servers",
          "idem's outbox relay needs a Kafka broker to publish to, and none is configured",
          "set spring.kafka.bootstrap-servers (or idem.outbox.relay.kafka.bootstrap.servers), or"
              + " idem.outbox.relay.enabled=false on instances that only write the outbox");
    }
    String name =
        binder
            .bind("idem.outbox.relay.name", String.class)
            .orElseGet(() -> binder.bind("spring.application.name", String.class).orElse(null));
    if (name == null || name.isBlank()) {
      throw new InvalidIdemPropertyException(
          "idem.outbox.relay.name",
          "the outbox relay needs a name of its own (its leader role and its producer's"
              + " transactional.id, shared by this application's instances and by no other relay),"
              + " and neither it nor spring.application.name is set",
          "set spring.application.name or idem.outbox.relay.name");
    }
    OutboxRelay.Builder builder =
        OutboxRelay.builder(
                outbox, IdemAutoConfiguration.dataSource(beans, dataSources), locks, kafka)
            .name(name);
    binder.bind("idem.outbox.relay.poll-interval", Duration.class).ifBound(builder::pollInterval);
    binder.bind("idem.outbox.relay.batch-size", Integer.class).ifBound(builder::batchSize);
    binder.bind("idem.outbox.relay.retention", Duration.class).ifBound(builder::retention);
    MeterRegistry registry =
        IdemAutoConfiguration.namedOrUnique(
            beans, IdemAutoConfiguration.METER_REGISTRY_BEAN, MeterRegistry.class, registries);
    if (registry != null) {
      builder.meterRegistry(registry);
    }
    return builder.build();
  }

  @Bean
  @ConditionalOnBooleanProperty(name = "idem.outbox.relay.enabled", matchIfMissing = true)
  SmartLifecycle idemOutboxRelayLifecycle(OutboxRelay relay) {
    return new SmartLifecycle() {
      private volatile boolean running;

      @Override
      public void start() {
        relay.start();
        running = true;
      }

      @Override
      public void stop() {
        relay.close();
        running = false;
      }

      @Override
      public boolean isRunning() {
        return running;
      }

      @Override
      public int getPhase() {
        return RELAY_PHASE;
      }
    };
  }

  /**
   * The relay's {@link OutboxRelayHealth}, in no health group: the relay's state says nothing about
   * whether this instance should get traffic (see {@code docs/outbox.md}).
   */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(HealthIndicator.class)
  @ConditionalOnBooleanProperty(name = "idem.outbox.relay.enabled", matchIfMissing = true)
  static class OutboxHealth {
    @Bean
    HealthIndicator idemOutboxRelayHealthIndicator(OutboxRelay relay) {
      return () -> {
        OutboxRelayHealth h = relay.health();
        Health.Builder b = h.healthy() ? Health.up() : Health.down();
        b.withDetail("relay", h.relay())
            .withDetail("running", h.running())
            .withDetail("leader", h.leader())
            .withDetail("failedRounds", h.failedRounds());
        if (h.leader()) {
          b.withDetail("epoch", h.epoch()).withDetail("pendingRows", h.pendingRows());
          if (h.oldestPending() != null) {
            b.withDetail("oldestPendingMs", h.oldestPending().toMillis());
          }
        }
        if (h.lastFailure() != null) {
          b.withDetail("lastFailure", h.lastFailure());
        }
        return b.build();
      };
    }
  }
}
