package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.retention.RetentionJob;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
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

class RetentionTest {

  @Test
  void oneOfThreeInstancesDeletesOnlyExpiredMarksInBatches() throws Exception {
    String schema = TestInfrastructure.uniqueName("retention");
    ConsumerSchemas.core(schema, "processed_events", "dead_letters")
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

    List<RetentionJob.Purged> outcomes = new ArrayList<>();
    int skipped = 0;
    try (HikariDataSource pool = pool(6)) {
      CyclicBarrier together = new CyclicBarrier(3);
      ExecutorService threads = Executors.newFixedThreadPool(3);
      List<Future<RunResult<RetentionJob.Purged>>> runs = new ArrayList<>();
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
      for (Future<RunResult<RetentionJob.Purged>> f : runs) {
        RunResult<RetentionJob.Purged> r = f.get(60, TimeUnit.SECONDS);
        if (r.ran()) {
          outcomes.add(r.value());
        } else {
          skipped++;
        }
      }
      threads.shutdownNow();
    }
    assertThat(outcomes.stream().filter(o -> o.deleted() > 0).toList())
        .containsExactly(new RetentionJob.Purged(1000, 10));
    assertThat(outcomes.size() + skipped).isEqualTo(3);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE consumer_name = 'ledger'"))
        .isEqualTo(200);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE event_id LIKE 'new-%'"))
        .isEqualTo(200);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE consumer_name = 'other'"))
        .isEqualTo(50);
  }

  private static final long DAY_MS = Duration.ofDays(1).toMillis();
  private static final String ESCAPE = "consumer.retention.allow-shorter-than-topic";

  /** A topic of one partition with these topic configs, on the shared broker. */
  private static String topic(String prefix, Map<String, String> configs) {
    String name = TestInfrastructure.uniqueName(prefix);
    TestInfrastructure.createTopics(bootstrap(), 1, configs, name);
    return name;
  }

  /** Retention and segments of one day each: Kafka may redeliver a record for 2 days and 5 min. */
  private static Map<String, String> oneDaySegmentsOfOneDay() {
    return Map.of("retention.ms", Long.toString(DAY_MS), "segment.ms", Long.toString(DAY_MS));
  }

  private static IdempotentConsumer<String> consumer(IdemConfig config, HikariDataSource pool) {
    return consumerBuilder(config, Payloads.utf8(), pool)
        .handler((v, ctx) -> insertEffect(config.consumerName() + "_effects", v, ctx))
        .build();
  }

  /** Sends one record and waits until its effect row is in the database. */
  private static void processesARecord(String name) throws Exception {
    send(List.of(record(name, 0, "k", name + "-1", "v")));
    awaitTrue(
        Duration.ofSeconds(30),
        "effect of " + name + "-1",
        () -> {
          try {
            return count("SELECT count(*) FROM " + name + "_effects") == 1;
          } catch (java.sql.SQLException e) {
            return false;
          }
        });
  }

  @Test
  void withOffsetsInKafkaAWindowShorterThanRetentionPlusSegmentIsRefusedAtStart() throws Exception {
    // retention.ms (1d) alone equals the window, which the old check let pass; a record written
    // just after its segment opened lives until the segment's newest record is 1d old.
    String name = topic("refused", oneDaySegmentsOfOneDay());
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumer(config(name, name).retentionWindow(Duration.ofDays(1)).build(), pool)) {
      assertThatThrownBy(consumer::start)
          .isInstanceOfSatisfying(
              IdemConfigException.class,
              e -> {
                assertThat(e.key()).isEqualTo("consumer.retention.window");
                assertThat(e.getMessage())
                    .contains("topic " + name)
                    .contains("1d")
                    .contains("2d 5m")
                    .contains(ESCAPE + "=true");
              });
    }
    assertThat(committedOffsets(name)).as("the group never joined").isEmpty();
  }

  @Test
  void theEscapeSettingLetsAConsumerStartDespiteAShorterWindow() throws Exception {
    String name = topic("escape", oneDaySegmentsOfOneDay());
    createEffectsTable(name + "_effects");
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumer(
                config(name, name).retentionWindow(Duration.ofDays(1)).set(ESCAPE, "true").build(),
                pool)) {
      consumer.start();
      processesARecord(name);
    }
  }

  @Test
  void withOffsetsInKafkaACompactedTopicIsRefusedAtStart() throws Exception {
    // Compaction keeps the newest record of every key forever, whatever retention.ms says.
    String name = topic("compacted", Map.of("cleanup.policy", "compact"));
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumer(config(name, name).retentionWindow(Duration.ofDays(30)).build(), pool)) {
      assertThatThrownBy(consumer::start)
          .isInstanceOfSatisfying(
              IdemConfigException.class,
              e -> {
                assertThat(e.key()).isEqualTo("consumer.retention.window");
                assertThat(e.getMessage())
                    .contains("topic " + name)
                    .contains("cleanup.policy=compact")
                    .contains("30d")
                    .contains(ESCAPE + "=true");
              });
    }
  }

  @Test
  void withOffsetsInPostgresqlAShorterWindowOnlyWarnsAndTheConsumerRuns() throws Exception {
    String name = topic("pgoffsets", oneDaySegmentsOfOneDay());
    createEffectsTable(name + "_effects");
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumer(
                config(name, name)
                    .retentionWindow(Duration.ofDays(1))
                    .offsetStore(OffsetStore.POSTGRESQL)
                    .build(),
                pool)) {
      consumer.start();
      processesARecord(name);
    }
  }

  @Test
  void aConsumerWhoseRetentionJobCannotRunKeepsItsMarksAndIsNotRefused() throws Exception {
    // Without dedicated connections for its singleton lock the job never deletes a mark.
    String name = topic("nojob", oneDaySegmentsOfOneDay());
    createEffectsTable(name + "_effects");
    IdemConfig config = config(name, name).retentionWindow(Duration.ofDays(1)).build();
    try (IdempotentConsumer<String> consumer =
        consumerBuilder(config, Payloads.utf8(), INFRA.postgres().dataSource())
            .handler((v, ctx) -> insertEffect(name + "_effects", v, ctx))
            .build()) {
      consumer.start();
      processesARecord(name);
    }
  }

  @Test
  void aTopicThatDoesNotExistYetIsSkippedAtStart() throws Exception {
    String name = TestInfrastructure.uniqueName("absent");
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumer(config(name, name).retentionWindow(Duration.ofDays(1)).build(), pool)) {
      consumer.start();
      assertThat(consumer.snapshot().state()).isNotEqualTo(ConsumerState.FAILED);
    }
  }

  @Test
  void aBrokerThatCannotAnswerAtStartIsAskedAgainAndAViolationThenStopsTheConsumer()
      throws Exception {
    String name = topic("unanswered", oneDaySegmentsOfOneDay());
    try (TcpRelay relay = TcpRelay.to(bootstrap());
        HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumer(
                config(name, name)
                    .bootstrapServers(relay.address())
                    .retentionWindow(Duration.ofDays(1))
                    .set("consumer.retention.topic-check-timeout", "1s")
                    .build(),
                pool)) {
      long started = System.nanoTime();
      consumer.start();
      assertThat(Duration.ofNanos(System.nanoTime() - started))
          .as("start() waits for the broker only as long as the check timeout")
          .isLessThan(Duration.ofSeconds(10));
      relay.open();
      awaitTrue(
          Duration.ofSeconds(30),
          "stopped by the background check",
          () -> consumer.snapshot().state() == ConsumerState.FAILED);
      assertThat(consumer.health().healthy()).isFalse();
    }
  }
}
