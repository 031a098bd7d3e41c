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

/**
 * health() is cheap enough for a load balancer to call on every request, and tells readiness (does
 * this instance do its job now) from liveness (is its poll loop alive). Outages of the database and
 * the broker are in {@link OutageTest}, which has servers of its own to stop.
 */
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
            consumerBuilder(config(name, name).build(), Payloads.utf8(), counting)
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

  @Test
  void aConsumerBeforeStartAndAfterCloseIsLiveButNotReady() {
    String name = TestInfrastructure.uniqueName("probes");
    INFRA.createTopics(1, name);
    IdempotentConsumer<String> consumer = closer.add(plainConsumer(name));

    ConsumerHealth created = consumer.health();
    assertThat(created.state()).isEqualTo(ConsumerState.CREATED);
    assertThat(created.live()).as("live before start").isTrue();
    assertThat(created.ready()).as("ready before start").isFalse();
    assertThat(created.lastPoll()).as("last poll before start").isNull();

    consumer.start();
    awaitTrue(Duration.ofSeconds(30), "ready", () -> consumer.health().ready());
    ConsumerHealth running = consumer.health();
    assertThat(running.live()).isTrue();
    assertThat(running.healthy()).isTrue();
    assertThat(running.brokerReachable()).isTrue();
    assertThat(running.lastPoll()).isNotNull();
    assertThat(running.sinceLastPoll()).isLessThan(running.pollStallTimeout());

    consumer.close();
    ConsumerHealth closed = consumer.health();
    assertThat(closed.state()).isEqualTo(ConsumerState.CLOSED);
    assertThat(closed.live()).as("live once closed: closed on purpose, not dead").isTrue();
    assertThat(closed.ready()).as("ready once closed").isFalse();
    assertThat(closed.healthy()).isFalse();
  }

  @Test
  void aConsumerWhosePollLoopDiedIsNeitherLiveNorReady() {
    String name = TestInfrastructure.uniqueName("dead");
    INFRA.createTopics(1, name);
    IdempotentConsumer<String> consumer = closer.add(plainConsumer(name));
    consumer.start();
    awaitTrue(Duration.ofSeconds(30), "ready", () -> consumer.health().ready());

    consumer.crash();
    awaitTrue(
        Duration.ofSeconds(30), "failed", () -> consumer.health().state() == ConsumerState.FAILED);

    ConsumerHealth failed = consumer.health();
    assertThat(failed.live()).as("live").isFalse();
    assertThat(failed.ready()).as("ready").isFalse();
    assertThat(failed.healthy()).as("healthy").isFalse();
  }

  private IdempotentConsumer<String> plainConsumer(String name) {
    return consumerBuilder(config(name, name).build(), Payloads.utf8(), closer.add(pool(4)))
        .handler((value, ctx) -> {})
        .build();
  }
}
