package dev.idem.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.EventHandler;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * Closing the application drains: a record whose handler is running when the context closes
 * finishes, commits, and its offset is committed before the consumer leaves its group.
 */
class GracefulShutdownTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();
  static final String NAME = TestInfrastructure.uniqueName("drain");
  static final CountDownLatch started = new CountDownLatch(1);

  @Test
  void aRecordInFlightWhenTheContextClosesCommitsAndItsOffsetIsCommitted() throws Exception {
    INFRA.createTopics(1, NAME);
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE IF NOT EXISTS drained (event_id text)");
    }
    ConfigurableApplicationContext context =
        new SpringApplicationBuilder(SlowApp.class)
            .web(WebApplicationType.NONE)
            .properties(TestApps.infrastructure(INFRA))
            .properties(
                "idem.consumers." + NAME + ".topics=" + NAME,
                "idem.consumers." + NAME + ".handler=slow",
                "idem.consumers." + NAME + ".event-id=header:webhook-id",
                "idem.consumers." + NAME + ".drain-timeout=10s",
                "idem.consumers." + NAME + ".commit-interval=10s")
            .run();
    SpringTransactionJoinTest.send(NAME, "slow-1", "ok");
    assertThat(started.await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    // The handler sleeps 1.5 s: close() must wait for it, commit it, then commit the offset
    // (the 10 s commit interval has not come round, so only the drain commits it).
    context.close();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM drained WHERE event_id = 'slow-1'")) {
      rs.next();
      assertThat(rs.getLong(1)).isEqualTo(1);
    }
    try (Admin admin =
        Admin.create(
            Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, INFRA.kafka().bootstrapServers()))) {
      await()
          .atMost(Duration.ofSeconds(5))
          .untilAsserted(
              () -> {
                Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(NAME).partitionsToOffsetAndMetadata().get();
                assertThat(committed.get(new TopicPartition(NAME, 0)).offset()).isEqualTo(1);
              });
    }
  }

  @SpringBootConfiguration
  @EnableAutoConfiguration
  static class SlowApp {
    @Bean
    EventHandler<String> slow(JdbcTemplate jdbc) {
      return (payload, ctx) -> {
        started.countDown();
        Thread.sleep(1500);
        jdbc.update("INSERT INTO drained (event_id) VALUES (?)", ctx.eventId());
      };
    }
  }
}
