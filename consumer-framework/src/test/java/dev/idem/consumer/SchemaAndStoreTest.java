package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.internal.store.PostgresIdempotencyStore;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SchemaAndStoreTest {

  @Test
  void instancesApplyingTheSchemaAtTheSameMomentAllStart() throws Exception {
    String schema = TestInfrastructure.uniqueName("schema");
    int instances = 4;
    CyclicBarrier barrier = new CyclicBarrier(instances);
    ExecutorService pool = Executors.newFixedThreadPool(instances);
    try {
      List<Future<List<Integer>>> results = new ArrayList<>();
      for (int i = 0; i < instances; i++) {
        results.add(
            pool.submit(
                () -> {
                  barrier.await(30, TimeUnit.SECONDS);
                  return ConsumerSchemas.core(schema, "processed_events", "dead_letters")
                      .migrate(INFRA.postgres().dataSource());
                }));
      }
      List<List<Integer>> applied = new ArrayList<>();
      for (Future<List<Integer>> f : results) {
        applied.add(f.get(60, TimeUnit.SECONDS));
      }
      assertThat(applied).containsOnlyOnce(List.of(1, 2, 3, 4));
      assertThat(applied.stream().filter(List::isEmpty).count()).isEqualTo(instances - 1);
    } finally {
      pool.shutdownNow();
    }
    assertThat(count("SELECT count(*) FROM " + schema + ".idem_schema_version")).isEqualTo(4);
    assertThat(count("SELECT count(*) FROM " + schema + ".processed_events")).isZero();
  }

  @Test
  void twoConsumersStartingAtOnceOnAFreshSchemaBothRun() throws Exception {
    String name = TestInfrastructure.uniqueName("twostart");
    String schema = name + "_s";
    INFRA.createTopics(2, name);
    CyclicBarrier barrier = new CyclicBarrier(2);
    ExecutorService threads = Executors.newFixedThreadPool(2);
    List<IdempotentConsumer<String>> consumers = new ArrayList<>();
    List<HikariDataSource> pools = new ArrayList<>();
    try {
      for (int i = 0; i < 2; i++) {
        HikariDataSource pool = pool(3);
        pools.add(pool);
        consumers.add(
            IdempotentConsumer.builder(config(name, name).schema(schema).build(), Payloads.utf8())
                .dataSource(pool)
                .eventIds(EventIds.recordKey())
                .handler((v, ctx) -> {})
                .build());
      }
      List<Future<?>> started = new ArrayList<>();
      for (IdempotentConsumer<String> c : consumers) {
        started.add(
            threads.submit(
                () -> {
                  barrier.await(30, TimeUnit.SECONDS);
                  c.start();
                  return null;
                }));
      }
      for (Future<?> f : started) {
        f.get(60, TimeUnit.SECONDS);
      }
      awaitTrue(
          Duration.ofSeconds(60),
          "both assigned",
          () -> consumers.stream().allMatch(c -> !c.snapshot().assigned().isEmpty()));
      assertThat(consumers).allMatch(c -> c.snapshot().state() == ConsumerState.RUNNING);
    } finally {
      consumers.forEach(IdempotentConsumer::close);
      pools.forEach(HikariDataSource::close);
      threads.shutdownNow();
    }
  }

  @Test
  void aUniqueViolationOfTheProcessedKeyIsRecognisedAndOthersAreNot() throws Exception {
    String schema = TestInfrastructure.uniqueName("store");
    ConsumerSchemas.core(schema, "processed_events", "dead_letters")
        .migrate(INFRA.postgres().dataSource());
    PostgresIdempotencyStore store =
        new PostgresIdempotencyStore(
            "c",
            schema,
            "processed_events",
            "dead_letters",
            new dev.idem.consumer.internal.store.TransactionSettings(
                Duration.ofSeconds(1), Duration.ofSeconds(1), 0),
            OffsetStore.KAFKA);
    String insert =
        "INSERT INTO "
            + schema
            + ".processed_events"
            + " (consumer_name, event_id, topic, kafka_partition, kafka_offset)"
            + " VALUES ('c', 'e1', 't', 0, 0)";
    sql(insert);
    SQLException processedViolation = violation(insert);
    assertThat(processedViolation.getSQLState()).isEqualTo("23505");
    assertThat(store.isProcessedKeyViolation(processedViolation)).isTrue();

    sql("CREATE TABLE " + schema + ".other (id int PRIMARY KEY)");
    sql("INSERT INTO " + schema + ".other VALUES (1)");
    SQLException otherViolation = violation("INSERT INTO " + schema + ".other VALUES (1)");
    assertThat(otherViolation.getSQLState()).isEqualTo("23505");
    assertThat(store.isProcessedKeyViolation(otherViolation)).isFalse();
  }

  private static SQLException violation(String statement) throws SQLException {
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute(statement);
    } catch (SQLException e) {
      return e;
    }
    throw new AssertionError("expected a unique violation from " + statement);
  }

  @Test
  void theScriptsUsersRunThemselvesHaveThePlaceholdersFilledIn() {
    String sql =
        ConsumerSchemas.core("app", "seen_events", "failed_events")
            .render("V1__processed_events_and_dead_letters.sql");
    assertThat(sql)
        .contains("CREATE TABLE IF NOT EXISTS app.seen_events")
        .contains("CREATE TABLE IF NOT EXISTS app.failed_events")
        .doesNotContain("${");
  }
}
