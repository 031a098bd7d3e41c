package dev.idem.spring.boot;

import static org.awaitility.Awaitility.await;

import dev.idem.consumer.EventHandler;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.event.TransactionPhase;
import org.springframework.transaction.event.TransactionalEventListener;

/**
 * An after-commit event listener (the default phase of {@code @TransactionalEventListener}) that
 * blocks, as a call without a timeout does, does not hold its worker and partition forever: the
 * worker is reported stuck and replaced, and the records behind it are processed.
 */
class AfterCommitWatchSpringTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();
  static final String NAME = TestInfrastructure.uniqueName("springaftercommit");
  static final CountDownLatch entered = new CountDownLatch(1);
  static final CountDownLatch release = new CountDownLatch(1);

  @Test
  void aBlockedAfterCommitListenerIsReportedStuckAndTheRecordsBehindItAreProcessed()
      throws Exception {
    INFRA.createTopics(1, NAME);
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE IF NOT EXISTS after_commit_watched (event_id text)");
    }
    ConfigurableApplicationContext context =
        new SpringApplicationBuilder(BlockingApp.class)
            .web(WebApplicationType.NONE)
            .properties(TestApps.infrastructure(INFRA))
            .properties(
                "idem.consumers." + NAME + ".topics=" + NAME,
                "idem.consumers." + NAME + ".handler=recorded",
                "idem.consumers." + NAME + ".event-id=header:webhook-id",
                "idem.consumers." + NAME + ".concurrency=1",
                "idem.consumers." + NAME + ".lock-timeout=200ms",
                "idem.consumers." + NAME + ".handler-timeout=1s",
                "idem.consumers." + NAME + ".commit-interval=200ms",
                "idem.consumers." + NAME + ".drain-timeout=1s")
            .run();
    try {
      IdemConsumers consumers = context.getBean(IdemConsumers.class);
      SpringTransactionJoinTest.send(NAME, "blocked", "block");
      SpringTransactionJoinTest.send(NAME, "after-1", "ok");
      SpringTransactionJoinTest.send(NAME, "after-2", "ok");
      await().atMost(Duration.ofSeconds(30)).until(() -> entered.getCount() == 0);
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> consumers.health().get(NAME).stuckWorkers() == 1);
      // Concurrency 1: the records behind run only once the blocked worker is replaced.
      await().atMost(Duration.ofSeconds(10)).until(() -> rows() == 3);
      release.countDown();
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> consumers.health().get(NAME).stuckWorkers() == 0);
    } finally {
      release.countDown();
      context.close();
    }
  }

  private static long rows() throws Exception {
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM after_commit_watched")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** An event published in the handler's transaction. */
  record Applied(String eventId, boolean block) {}

  /** Blocks after the commit of a record whose payload says so, ignoring interrupts. */
  static class BlockingListener {
    @TransactionalEventListener(phase = TransactionPhase.AFTER_COMMIT)
    void on(Applied applied) {
      if (!applied.block()) {
        return;
      }
      entered.countDown();
      while (true) {
        try {
          release.await();
          return;
        } catch (InterruptedException e) {
          // On purpose: like a socket read without a timeout, it does not notice the interrupt.
        }
      }
    }
  }

  @SpringBootConfiguration
  @EnableAutoConfiguration
  @Import(BlockingListener.class)
  static class BlockingApp {
    @Bean
    EventHandler<String> recorded(JdbcTemplate jdbc, ApplicationEventPublisher events) {
      return (payload, ctx) -> {
        jdbc.update("INSERT INTO after_commit_watched (event_id) VALUES (?)", ctx.eventId());
        events.publishEvent(new Applied(ctx.eventId(), payload.equals("block")));
      };
    }
  }
}
