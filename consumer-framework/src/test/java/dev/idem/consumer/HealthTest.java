package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** health() is cheap enough for a load balancer to call on every request. */
class HealthTest {
  @RegisterExtension final Closer closer = new Closer();

  @Test
  void healthChecksStartNoThreadAndBorrowNoConnectionPerCallYetSeeTheDatabaseGo() throws Exception {
    String name = TestInfrastructure.uniqueName("health");
    INFRA.createTopics(1, name);
    HikariConfig hikari = new HikariConfig();
    hikari.setJdbcUrl(INFRA.postgres().jdbcUrl());
    hikari.setUsername(INFRA.postgres().user());
    hikari.setPassword(INFRA.postgres().password());
    hikari.setMaximumPoolSize(3);
    hikari.setConnectionTimeout(1000);
    hikari.setAllowPoolSuspension(true);
    hikari.setPoolName(TestInfrastructure.uniqueName("healthpool"));
    HikariDataSource pool = closer.add(new HikariDataSource(hikari));
    AtomicInteger borrowed = new AtomicInteger();
    DataSource counting =
        (DataSource)
            Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {DataSource.class},
                (proxy, method, args) -> {
                  if (method.getName().equals("getConnection")) {
                    borrowed.incrementAndGet();
                  }
                  try {
                    return method.invoke(pool, args);
                  } catch (InvocationTargetException e) {
                    throw e.getCause();
                  }
                });
    IdempotentConsumer<String> consumer =
        closer.add(
            IdempotentConsumer.builder(config(name, name).build(), Payloads.utf8())
                .dataSource(counting)
                .eventIds(EventIds.header("webhook-id"))
                .handler((value, ctx) -> {})
                .build());
    consumer.start();
    awaitAssigned(consumer);
    awaitTrue(Duration.ofSeconds(30), "healthy", () -> consumer.health().healthy());

    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long startedBefore = threads.getTotalStartedThreadCount();
    int borrowedBefore = borrowed.get();
    for (int i = 0; i < 500; i++) {
      assertThat(consumer.health().databaseReachable()).isTrue();
    }
    assertThat(threads.getTotalStartedThreadCount() - startedBefore)
        .as("threads started by 500 health checks")
        .isLessThan(5);
    assertThat(borrowed.get() - borrowedBefore)
        .as("connections borrowed by 500 health checks (one background probe may fall in)")
        .isLessThanOrEqualTo(1);

    // The cached probe still notices a database it cannot reach, and its return.
    pool.getHikariPoolMXBean().suspendPool();
    awaitTrue(
        Duration.ofSeconds(20),
        "unreachable while the pool hands out nothing",
        () -> !consumer.health().databaseReachable() && !consumer.health().healthy());
    pool.getHikariPoolMXBean().resumePool();
    awaitTrue(Duration.ofSeconds(20), "healthy again", () -> consumer.health().healthy());
  }
}
