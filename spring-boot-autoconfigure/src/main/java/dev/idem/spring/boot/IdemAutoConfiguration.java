package dev.idem.spring.boot;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConsumer;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.springframework.aop.Advisor;
import org.springframework.aop.config.AopConfigUtils;
import org.springframework.aop.support.DefaultPointcutAdvisor;
import org.springframework.aop.support.annotation.AnnotationMatchingPointcut;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.beans.factory.support.BeanDefinitionRegistry;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.ImportBeanDefinitionRegistrar;
import org.springframework.context.annotation.Role;
import org.springframework.core.env.Environment;
import org.springframework.core.type.AnnotationMetadata;

/**
 * idem in a Spring Boot application: one {@link IdempotentConsumer} per {@code
 * idem.consumers.<name>} block, its handler a bean, on the application's {@code DataSource} and
 * {@code MeterRegistry} (and {@code ObservationRegistry}, when it has one: see {@link
 * IdemTracingAutoConfiguration}), with Spring's JDBC transactions joined to idem's; an {@link
 * AdvisoryLocks} bean and {@link ExclusiveJob} methods; health contributors for readiness and
 * liveness; the transactional outbox and its relay with {@code idem.outbox.enabled=true} ({@link
 * IdemOutboxConfiguration}). Off with {@code idem.enabled=false}. See {@code docs/spring-boot.md}.
 */
@AutoConfiguration(
    afterName = {
      "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
      "org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration",
      "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration",
      "org.springframework.boot.micrometer.observation.autoconfigure.ObservationAutoConfiguration"
    })
@ConditionalOnBooleanProperty(name = "idem.enabled", matchIfMissing = true)
@Import({IdemAutoConfiguration.ExclusiveJobs.class, IdemOutboxConfiguration.class})
public class IdemAutoConfiguration {
  /** The name of a bean that overrides the application's {@code DataSource} for idem. */
  public static final String DATA_SOURCE_BEAN = "idemDataSource";

  /** The name of a bean that overrides the application's {@code MeterRegistry} for idem. */
  public static final String METER_REGISTRY_BEAN = "idemMeterRegistry";

  /** The name of a bean that overrides the application's {@code ObservationRegistry} for idem. */
  public static final String OBSERVATION_REGISTRY_BEAN = "idemObservationRegistry";

  /** Every configured, enabled consumer; started and stopped with the context. */
  @Bean
  IdemConsumers idemConsumers(
      ConfigurableListableBeanFactory beans,
      Environment environment,
      ObjectProvider<DataSource> dataSources,
      ObjectProvider<MeterRegistry> registries,
      ObjectProvider<ObservationRegistry> observationRegistries,
      ObjectProvider<ConnectionFactory> lockConnections) {
    List<ConsumerDefinition> definitions = ConsumerDefinitions.read(environment);
    refuseUnclaimedHandlers(beans, definitions);
    Map<String, IdemConfig> configs = new LinkedHashMap<>();
    for (ConsumerDefinition d : definitions) {
      if (d.enabled()) {
        configs.put(d.name(), ConsumerAssembly.config(d));
      }
    }
    if (configs.isEmpty()) {
      return new IdemConsumers(List.of());
    }
    DataSource dataSource = dataSource(beans, dataSources);
    Binder binder = Binder.get(environment);
    DataSourceChecks.verify(
        beans, dataSource, binder.bind("idem.jpa-outside-handlers", Boolean.class).orElse(false));
    DataSourceChecks.poolFits(dataSource, configs);
    DataSourceChecks.drainFitsShutdownPhase(
        configs,
        binder
            .bind("spring.lifecycle.timeout-per-shutdown-phase", Duration.class)
            .orElse(Duration.ofSeconds(30)));
    ConsumerAssembly assembly =
        new ConsumerAssembly(
            beans,
            dataSource,
            meterRegistry(beans, registries),
            namedOrUnique(
                beans, OBSERVATION_REGISTRY_BEAN, ObservationRegistry.class, observationRegistries),
            lockConnections.getIfUnique(),
            binder.bind("idem.apply-schema", Boolean.class).orElse(true));
    List<IdemConsumer> consumers = new ArrayList<>();
    for (ConsumerDefinition d : definitions) {
      if (d.enabled()) {
        consumers.add(assembly.build(d, configs.get(d.name())));
      }
    }
    return new IdemConsumers(consumers);
  }

  /**
   * The advisory-lock toolkit on the application's database. Session locks (singleton jobs, leader
   * election) take dedicated connections: opened like the HikariCP pool's own, or from a {@link
   * ConnectionFactory} bean.
   */
  @Bean
  @ConditionalOnMissingBean
  AdvisoryLocks idemAdvisoryLocks(
      ConfigurableListableBeanFactory beans,
      ObjectProvider<DataSource> dataSources,
      ObjectProvider<MeterRegistry> registries,
      ObjectProvider<ConnectionFactory> lockConnections) {
    ConnectionFactory connections = lockConnections.getIfUnique();
    if (connections == null) {
      DataSource dataSource = dataSource(beans, dataSources);
      if (!isHikari(dataSource)) {
        throw new InvalidIdemPropertyException(
            "idem's AdvisoryLocks",
            "need dedicated connections for session locks, and the DataSource ("
                + dataSource.getClass().getName()
                + ") is not a HikariCP pool to open them like",
            "declare a dev.idem.lock.ConnectionFactory bean (ConnectionFactory.fromUrl(...)), or"
                + " your own AdvisoryLocks bean");
      }
      connections = ConnectionFactory.sameServerAs(dataSource);
    }
    AdvisoryLocks.Builder builder = AdvisoryLocks.builder(connections);
    MeterRegistry registry = meterRegistry(beans, registries);
    if (registry != null) {
      builder.meterRegistry(registry);
    }
    return builder.build();
  }

  private static boolean isHikari(DataSource dataSource) {
    try {
      return dataSource.isWrapperFor(HikariDataSource.class);
    } catch (SQLException e) {
      return false;
    }
  }

  static DataSource dataSource(
      ConfigurableListableBeanFactory beans, ObjectProvider<DataSource> dataSources) {
    if (beans.containsBean(DATA_SOURCE_BEAN)) {
      return beans.getBean(DATA_SOURCE_BEAN, DataSource.class);
    }
    DataSource dataSource = dataSources.getIfUnique();
    if (dataSource == null) {
      throw new InvalidIdemPropertyException(
          "spring.datasource.url",
          "idem's consumers need a DataSource, and the application has none (or several, none"
              + " of them @Primary)",
          "configure spring.datasource.* (PostgreSQL), mark one DataSource @Primary, or name the"
              + " one for idem "
              + DATA_SOURCE_BEAN);
    }
    return dataSource;
  }

  private static MeterRegistry meterRegistry(
      ConfigurableListableBeanFactory beans, ObjectProvider<MeterRegistry> registries) {
    return namedOrUnique(beans, METER_REGISTRY_BEAN, MeterRegistry.class, registries);
  }

  /** The bean named {@code name} when there is one, else the application's only one, or null. */
  static <T> T namedOrUnique(
      ConfigurableListableBeanFactory beans,
      String name,
      Class<T> type,
      ObjectProvider<T> candidates) {
    return beans.containsBean(name) ? beans.getBean(name, type) : candidates.getIfUnique();
  }

  /** A handler bean that no consumer block names would silently consume nothing. */
  private static void refuseUnclaimedHandlers(
      ConfigurableListableBeanFactory beans, List<ConsumerDefinition> definitions) {
    Set<String> claimed = new HashSet<>();
    definitions.forEach(d -> claimed.add(d.handler()));
    Stream.concat(
            Stream.of(beans.getBeanNamesForType(EventHandler.class, true, false)),
            Stream.of(beans.getBeanNamesForType(BatchHandler.class, true, false)))
        .filter(name -> !claimed.contains(name))
        .findFirst()
        .ifPresent(
            name -> {
              throw new InvalidIdemPropertyException(
                  "idem.consumers." + name,
                  "handler bean '" + name + "' belongs to no consumer, so it would never run",
                  "add an idem.consumers."
                      + name
                      + " block (topics, event-id), or set idem.consumers.<name>.handler="
                      + name);
            });
  }

  /** One health contributor per consumer under {@code idemReadiness} and {@code idemLiveness}. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(HealthIndicator.class)
  static class HealthConfiguration {
    @Bean
    HealthContributor idemReadiness(IdemConsumers consumers) {
      return ConsumerHealthIndicators.readiness(consumers);
    }

    @Bean
    HealthContributor idemLiveness(IdemConsumers consumers) {
      return ConsumerHealthIndicators.liveness(consumers);
    }
  }

  /** {@link ExclusiveJob} methods, through an advisor and an auto-proxy creator. */
  @Configuration(proxyBeanMethods = false)
  @Import(ExclusiveJobs.ProxyCreator.class)
  static class ExclusiveJobs {
    @Bean
    @Role(BeanDefinition.ROLE_INFRASTRUCTURE)
    static Advisor idemExclusiveJobAdvisor(ObjectProvider<AdvisoryLocks> locks) {
      return new DefaultPointcutAdvisor(
          new AnnotationMatchingPointcut(null, ExclusiveJob.class, true),
          new ExclusiveJobInterceptor(locks));
    }

    /** Registers Spring's infrastructure auto-proxy creator unless a stronger one is there. */
    static class ProxyCreator implements ImportBeanDefinitionRegistrar {
      @Override
      public void registerBeanDefinitions(
          AnnotationMetadata metadata, BeanDefinitionRegistry registry) {
        AopConfigUtils.registerAutoProxyCreatorIfNecessary(registry);
      }
    }
  }
}
