package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.retention.RetentionJob;
import dev.idem.consumer.internal.retention.TopicRetentionGuard;
import dev.idem.consumer.internal.schema.SchemaMigrator;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import dev.idem.lock.RunResult;
import dev.idem.testkit.TestInfrastructure;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class RetentionTest {

  @Test
  void oneOfThreeInstancesDeletesOnlyExpiredMarksInBatches() throws Exception {
    String schema = TestInfrastructure.uniqueName("retention");
    new SchemaMigrator(schema, "processed_events", "dead_letters")
        .migrate(INFRA.postgres().dataSource());
    String table = schema + ".processed_events";
    String insert =
        "INSERT INTO "
            + table
            + " (consumer_name, event_id, topic, kafka_partition, kafka_offset, processed_at)"
            + " SELECT '%s', '%s-' || g, 't', 0, g, now() - interval '%s' FROM generate_series(1, %d) g";
    sql(String.format(insert, "ledger", "old", "8 days", 1000));
    sql(String.format(insert, "ledger", "new", "1 day", 200));
    sql(String.format(insert, "other", "old", "30 days", 50));

    List<RetentionJob.Outcome> outcomes = new ArrayList<>();
    int skipped = 0;
    try (HikariDataSource pool = pool(6)) {
      CyclicBarrier together = new CyclicBarrier(3);
      ExecutorService threads = Executors.newFixedThreadPool(3);
      List<Future<RunResult<RetentionJob.Outcome>>> runs = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        RetentionJob job =
            new RetentionJob(
                AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build(),
                pool,
                schema,
                "processed_events",
                "ledger",
                Duration.ofDays(7),
                100,
                Clock.systemUTC());
        runs.add(
            threads.submit(
                () -> {
                  together.await(10, TimeUnit.SECONDS);
                  return job.runOnce();
                }));
      }
      for (Future<RunResult<RetentionJob.Outcome>> f : runs) {
        RunResult<RetentionJob.Outcome> r = f.get(60, TimeUnit.SECONDS);
        if (r.ran()) {
          outcomes.add(r.value());
        } else {
          skipped++;
        }
      }
      threads.shutdownNow();
    }
    assertThat(outcomes.stream().filter(o -> o.deleted() > 0).toList())
        .containsExactly(new RetentionJob.Outcome(1000, 10));
    assertThat(outcomes.size() + skipped).isEqualTo(3);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE consumer_name = 'ledger'"))
        .isEqualTo(200);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE event_id LIKE 'new-%'"))
        .isEqualTo(200);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE consumer_name = 'other'"))
        .isEqualTo(50);
  }

  @Test
  void aConsumerWarnsWhenItsTopicKeepsRecordsLongerThanItsMarks() throws Exception {
    String name = TestInfrastructure.uniqueName("longtopic");
    TestInfrastructure.createTopics(
        bootstrap(),
        1,
        Map.of("retention.ms", Long.toString(Duration.ofDays(30).toMillis())),
        name);
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    logs.start();
    Logger logger = (Logger) LoggerFactory.getLogger(TopicRetentionGuard.class);
    logger.addAppender(logs);
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            IdempotentConsumer.builder(
                    config(name, name).retentionWindow(Duration.ofDays(7)).build(), Payloads.utf8())
                .dataSource(pool)
                .eventIds(EventIds.recordKey())
                .handler((v, ctx) -> {})
                .build()) {
      consumer.start();
      awaitTrue(
          Duration.ofSeconds(30),
          "warning logged",
          () ->
              logs.list.stream()
                  .anyMatch(
                      e ->
                          e.getFormattedMessage()
                              .contains(
                                  "7d is shorter than 37d 5m, how long topic "
                                      + name
                                      + " can still deliver a record")));
    } finally {
      logger.detachAppender(logs);
    }
  }
}
