package dev.idem.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.EventHandler;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.testkit.TestInfrastructure;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.JdbcTemplateAutoConfiguration;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DelegatingDataSource;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.TransactionStatus;
import org.springframework.transaction.support.SimpleTransactionStatus;

/**
 * What the starter refuses at start-up, each refusal naming the property as the application wrote
 * it and the fix. Nothing here reaches the broker: every context fails (or has no consumer to
 * start) before a consumer starts.
 */
class StartupRefusalTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();

  private final ApplicationContextRunner runner =
      withoutHandler().withUserConfiguration(Handler.class);

  private static ApplicationContextRunner withoutHandler() {
    return new ApplicationContextRunner()
        .withConfiguration(
            AutoConfigurations.of(
                DataSourceAutoConfiguration.class,
                JdbcTemplateAutoConfiguration.class,
                DataSourceTransactionManagerAutoConfiguration.class,
                IdemAutoConfiguration.class))
        .withPropertyValues(TestApps.infrastructure(INFRA))
        .withPropertyValues(
            "idem.consumers.ledger.topics=payments", "idem.defaults.event-id=header:webhook-id");
  }

  @Configuration(proxyBeanMethods = false)
  static class Handler {
    @Bean
    EventHandler<String> ledger() {
      return (payload, ctx) -> {};
    }
  }

  private static String failure(AssertableApplicationContext context) {
    assertThat(context).hasFailed();
    Throwable t = context.getStartupFailure();
    while (t != null && !(t instanceof InvalidIdemPropertyException)) {
      t = t.getCause();
    }
    assertThat(t).as("an InvalidIdemPropertyException").isNotNull();
    return t.getMessage();
  }

  @Test
  void aBadValueNamesTheApplicationsPropertyAndTheFix() {
    runner
        .withPropertyValues("idem.consumers.ledger.lock-timeout=soon")
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("idem.consumers.ledger.lock-timeout: ")
                    .contains("soon"));
  }

  @Test
  void aBadDefaultNamesTheDefaultsProperty() {
    runner
        .withPropertyValues("idem.defaults.concurrency=0")
        .run(context -> assertThat(failure(context)).startsWith("idem.defaults.concurrency: "));
  }

  @Test
  void anUnknownKeyIsRefusedByName() {
    runner
        .withPropertyValues("idem.consumers.ledger.lok-timeout=5s")
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("idem.consumers.ledger.lok-timeout: ")
                    .contains("unknown setting"));
  }

  @Test
  void aConsumerWithoutAnEventIdIsRefused() {
    new ApplicationContextRunner()
        .withConfiguration(
            AutoConfigurations.of(DataSourceAutoConfiguration.class, IdemAutoConfiguration.class))
        .withPropertyValues(TestApps.infrastructure(INFRA))
        .withPropertyValues("idem.consumers.ledger.topics=payments")
        .withUserConfiguration(Handler.class)
        .run(context -> assertThat(failure(context)).startsWith("idem.consumers.ledger.event-id"));
  }

  @Test
  void aJdbcTemplateOnAWrappedDataSourceIsRefused() {
    runner
        .withBean(
            "wrappedTemplate",
            JdbcTemplate.class,
            () -> new JdbcTemplate(new DelegatingDataSource(INFRA.postgres().dataSource())))
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("JdbcTemplate bean 'wrappedTemplate'")
                    .contains("second, auto-commit connection"));
  }

  @Test
  void aTransactionManagerThatIsNotAJdbcOneIsRefused() {
    runner
        .withBean("otherTransactions", PlatformTransactionManager.class, OtherTransactions::new)
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("transaction manager bean 'otherTransactions'")
                    .contains("JPA/Hibernate in a handler is not supported"));
  }

  @Test
  void aPoolSmallerThanTheConsumersNeedIsRefused() {
    runner
        .withPropertyValues(
            "spring.datasource.hikari.maximum-pool-size=3", "idem.consumers.ledger.concurrency=4")
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("spring.datasource.hikari.maximum-pool-size: is 3")
                    .contains("at least 6"));
  }

  @Test
  void aDrainLongerThanBootsShutdownPhaseIsRefused() {
    runner
        .withPropertyValues(
            "idem.consumers.ledger.drain-timeout=20s",
            "spring.lifecycle.timeout-per-shutdown-phase=10s")
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("idem.consumers.ledger.drain-timeout")
                    .contains("timeout-per-shutdown-phase"));
  }

  @Test
  void aHandlerBeanThatNoConsumerNamesIsRefused() {
    runner
        .withBean("orphan", EventHandler.class, () -> (EventHandler<String>) (p, c) -> {})
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("idem.consumers.orphan")
                    .contains("belongs to no consumer"));
  }

  @Test
  void aHandlerWhosePayloadTypeCannotBeToldIsRefused() {
    withoutHandler()
        .withPropertyValues("idem.consumers.ledger.handler=raw")
        .withUserConfiguration(RawHandler.class)
        .run(
            context ->
                assertThat(failure(context))
                    .startsWith("idem.consumers.ledger.handler")
                    .contains("payload type"));
  }

  @Configuration(proxyBeanMethods = false)
  static class RawHandler {
    @Bean
    @SuppressWarnings("rawtypes")
    EventHandler raw() {
      return (payload, ctx) -> {};
    }
  }

  @Test
  void idemDisabledLeavesNoIdemBeans() {
    runner
        .withPropertyValues("idem.enabled=false")
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              assertThat(context).doesNotHaveBean(IdemConsumers.class);
              assertThat(context).doesNotHaveBean(AdvisoryLocks.class);
            });
  }

  @Test
  void aDisabledConsumerIsNotBuilt() {
    runner
        .withPropertyValues("idem.consumers.ledger.enabled=false")
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              assertThat(context.getBean(IdemConsumers.class).names()).isEmpty();
              assertThat(context.getBean(AdvisoryLocks.class)).isNotNull();
              assertThat(context.getBean(DataSource.class)).isNotNull();
            });
  }

  @Test
  void bootsFailureReportShowsThePropertyAndTheFixApart() {
    InvalidIdemPropertyException e =
        new InvalidIdemPropertyException("idem.consumers.x.concurrency", "is 0", "use 1 or more");
    FailureAnalysis analysis = new InvalidIdemPropertyFailureAnalyzer().analyze(e);
    assertThat(analysis.getDescription()).contains("idem.consumers.x.concurrency").contains("is 0");
    assertThat(analysis.getAction()).contains("use 1 or more");
  }

  /** A transaction manager that is not a JDBC one (as a JPA or JTA one would be). */
  static final class OtherTransactions implements PlatformTransactionManager {
    @Override
    public TransactionStatus getTransaction(TransactionDefinition definition) {
      return new SimpleTransactionStatus();
    }

    @Override
    public void commit(TransactionStatus status) {}

    @Override
    public void rollback(TransactionStatus status) {}
  }
}
