package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Handlers that break idem's transaction the way real user code does: catching an SQL error and
 * carrying on, ending the transaction with SQL, reaching the raw connection. None of it may lose an
 * event or move an offset past it.
 */
class TransactionMisuseTest {
  @RegisterExtension final Closer closer = new Closer();

  private IdempotentConsumer<String> start(IdemConfig config, EventHandler<String> handler) {
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(config.concurrency() + 2)))
                .handler(handler)
                .build());
    consumer.start();
    return consumer;
  }

  private IdempotentConsumer<String> startBatch(IdemConfig config, BatchHandler<String> handler) {
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(config.concurrency() + 2)))
                .batchHandler(handler)
                .build());
    consumer.start();
    return consumer;
  }

  private static long deadLetters(String name) throws SQLException {
    return count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name);
  }

  @Test
  void aHandlerThatSwallowsAnSqlErrorOnceIsAppliedOnItsRetryAndTheOffsetWaitsForIt()
      throws Exception {
    String name = TestInfrastructure.uniqueName("swallow");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    AtomicInteger calls = new AtomicInteger();
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).build(),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (ctx.eventId().equals("sw-1") && calls.incrementAndGet() == 1) {
                swallowFailingStatement(ctx.connection());
              }
            });
    send(List.of(record(name, 0, "k", "sw-1", "v"), record(name, 0, "k", "sw-2", "w")));
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "committed past both",
        () -> Long.valueOf(2).equals(consumer.snapshot().committed().get(tp)));

    assertThat(strings("SELECT event_id || ':' || attempt FROM " + effects))
        .containsExactlyInAnyOrder("sw-1:2", "sw-2:1");
    assertThat(strings("SELECT event_id FROM idem.processed_events WHERE consumer_name = ?", name))
        .containsExactlyInAnyOrder("sw-1", "sw-2");
    assertThat(consumer.snapshot().failures()).isEqualTo(1);
    assertThat(consumer.snapshot().processed()).isEqualTo(2);
  }

  @Test
  void aHandlerThatAlwaysSwallowsAnSqlErrorIsDeadLetteredWithTheFixAndNeverCountedDone()
      throws Exception {
    String name = TestInfrastructure.uniqueName("swallowall");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    Map<Long, Long> deadLettersWhenCommitted = new ConcurrentHashMap<>();
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).retry(RetryPolicy.fixed(3, Duration.ofMillis(20))).build(),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              swallowFailingStatement(ctx.connection());
            });
    send(List.of(record(name, 0, "k", "swa-1", "v")));
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "committed past it",
        () -> {
          Long committed = consumer.snapshot().committed().get(tp);
          if (committed != null && committed == 1) {
            try {
              deadLettersWhenCommitted.put(committed, deadLetters(name));
            } catch (SQLException e) {
              return false;
            }
            return true;
          }
          return false;
        });

    assertThat(deadLettersWhenCommitted).containsEntry(1L, 1L);
    assertThat(count("SELECT count(*) FROM " + effects)).isZero();
    assertThat(consumer.snapshot().processed()).isZero();
    assertThat(consumer.snapshot().deadLettered()).isEqualTo(1);
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT attempts, reason, exception_class, exception_message FROM"
                    + " idem.dead_letters WHERE consumer_name = ?",
                name);
        ResultSet rs = ps.executeQuery()) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getInt(1)).isEqualTo(3);
      assertThat(rs.getString(2)).isEqualTo("handler-failed");
      assertThat(rs.getString(3)).isEqualTo(TransactionMisuseException.class.getName());
      assertThat(rs.getString(4)).contains("caught an SQL error").contains("withSavepoint");
    }
  }

  @Test
  void aBatchHandlerThatSwallowsAnSqlErrorLosesNoEventOfItsBatch() throws Exception {
    String name = TestInfrastructure.uniqueName("swallowbatch");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      records.add(record(name, 0, "k" + i, "swb-" + i, "v" + i));
    }
    send(records);
    AtomicInteger batches = new AtomicInteger();
    IdempotentConsumer<String> consumer =
        startBatch(
            config(name, name).batchSize(50).kafka("max.poll.records", 50).build(),
            (events, ctx) -> {
              try (PreparedStatement ps =
                  ctx.connection()
                      .prepareStatement("INSERT INTO " + effects + " (event_id) VALUES (?)")) {
                for (BatchEvent<String> e : events) {
                  ps.setString(1, e.eventId());
                  ps.executeUpdate();
                }
              }
              if (batches.incrementAndGet() == 1) {
                swallowFailingStatement(ctx.connection());
              }
            });
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "committed past the batch",
        () -> Long.valueOf(50).equals(consumer.snapshot().committed().get(tp)));

    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(50);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(50);
    assertThat(deadLetters(name)).isZero();
  }

  @Test
  void aHandlerCanTryAStatementInsideASavepointAndCarryOn() throws Exception {
    String name = TestInfrastructure.uniqueName("savepoint");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    sql("CREATE TABLE " + name + "_audit (event_id text PRIMARY KEY)");
    sql("INSERT INTO " + name + "_audit VALUES ('sp-1')");
    Map<String, String> caught = new ConcurrentHashMap<>();
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).build(),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              try {
                ctx.withSavepoint(
                    c -> {
                      try (PreparedStatement ps =
                          c.prepareStatement("INSERT INTO " + name + "_audit VALUES (?)")) {
                        ps.setString(1, ctx.eventId());
                        return ps.executeUpdate();
                      }
                    });
              } catch (SQLException e) {
                caught.put(ctx.eventId(), e.getSQLState());
              }
            });
    send(List.of(record(name, 0, "k", "sp-1", "v")));
    awaitTrue(Duration.ofSeconds(60), "processed", () -> consumer.snapshot().processed() == 1);

    assertThat(caught).containsEntry("sp-1", "23505");
    assertThat(strings("SELECT event_id FROM " + effects)).containsExactly("sp-1");
    assertThat(consumer.snapshot().failures()).isZero();
  }

  @Test
  void aHandlerThatRollsBackWithSqlIsRetriedAndDeadLetteredNotLost() throws Exception {
    String name = TestInfrastructure.uniqueName("rawrollback");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).retry(RetryPolicy.fixed(2, Duration.ofMillis(20))).build(),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              try (Statement s = ctx.connection().createStatement()) {
                s.execute("ROLLBACK");
              }
            });
    send(List.of(record(name, 0, "k", "rb-1", "v")));
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "committed past it",
        () -> Long.valueOf(1).equals(consumer.snapshot().committed().get(tp)));

    assertThat(consumer.snapshot().processed()).isZero();
    assertThat(
            strings(
                "SELECT exception_class || ' ' || exception_message FROM idem.dead_letters"
                    + " WHERE consumer_name = ?",
                name))
        .singleElement()
        .asString()
        .contains(TransactionMisuseException.class.getName())
        .contains("ended idem's transaction");
  }

  @Test
  void statementsResultSetsAndMetadataHandBackOnlyTheGuardedConnection() throws Exception {
    String name = TestInfrastructure.uniqueName("bypass");
    INFRA.createTopics(1, name);
    Map<String, String> seen = new ConcurrentHashMap<>();
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).build(),
            (value, ctx) -> {
              Connection c = ctx.connection();
              try (Statement s = c.createStatement();
                  PreparedStatement ps = c.prepareStatement("SELECT 1");
                  ResultSet rs = ps.executeQuery()) {
                List<Connection> reached =
                    List.of(
                        s.getConnection(),
                        ps.getConnection(),
                        rs.getStatement().getConnection(),
                        c.getMetaData().getConnection());
                for (int i = 0; i < reached.size(); i++) {
                  try {
                    reached.get(i).commit();
                    seen.put("path" + i, "commit allowed");
                  } catch (IllegalStateException e) {
                    seen.put("path" + i, "refused");
                  }
                }
              }
            });
    send(List.of(record(name, 0, "k", "by-1", "v")));
    awaitTrue(Duration.ofSeconds(60), "processed", () -> consumer.snapshot().processed() == 1);

    assertThat(seen)
        .containsEntry("path0", "refused")
        .containsEntry("path1", "refused")
        .containsEntry("path2", "refused")
        .containsEntry("path3", "refused");
  }

  /**
   * The handler of lk-1 hands its connection, a prepared statement and a result set to a thread of
   * its own, which uses them once lk-1 has committed, while lk-2's handler runs.
   */
  @Test
  void aConnectionLeakedToAnotherThreadIsRefusedOnceItsHandlerReturnedAndWritesNothing()
      throws Exception {
    String name = TestInfrastructure.uniqueName("leak");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    String leakedInsert =
        "INSERT INTO " + effects + " (event_id, payload) VALUES ('lk-1', 'leaked')";
    CompletableFuture<List<String>> leakedUses = new CompletableFuture<>();
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).build(),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (ctx.eventId().equals("lk-1")) {
                Connection leaked = ctx.connection();
                PreparedStatement insert = leaked.prepareStatement(leakedInsert);
                ResultSet rows =
                    leaked.createStatement().executeQuery("SELECT generate_series(1, 3)");
                Thread thread =
                    new Thread(
                        () -> {
                          try {
                            awaitTrue(
                                Duration.ofSeconds(30),
                                "lk-1 committed",
                                () ->
                                    countQuietly(
                                            "SELECT count(*) FROM idem.processed_events"
                                                + " WHERE consumer_name = ? AND event_id = 'lk-1'",
                                            name)
                                        == 1);
                            leakedUses.complete(
                                LeakedUses.tryAll(
                                    insert::executeUpdate,
                                    () -> {
                                      try (Statement s = leaked.createStatement()) {
                                        s.executeUpdate(leakedInsert);
                                      }
                                    },
                                    rows::next,
                                    () -> ctx.withSavepoint(c -> c.isValid(1))));
                          } catch (Throwable t) {
                            leakedUses.completeExceptionally(t);
                          }
                        });
                thread.start();
              }
              if (ctx.eventId().equals("lk-2")) {
                // The next record's transaction is open while the leaked thread tries.
                leakedUses.get(30, TimeUnit.SECONDS);
              }
            });
    send(List.of(record(name, 0, "k", "lk-1", "v"), record(name, 0, "k", "lk-2", "w")));
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "committed past both",
        () -> Long.valueOf(2).equals(consumer.snapshot().committed().get(tp)));

    LeakedUses.assertAllRefused(leakedUses.get(30, TimeUnit.SECONDS), "lk-1");
    assertThat(strings("SELECT event_id || ':' || payload FROM " + effects))
        .as("nothing the leaked connection tried landed")
        .containsExactlyInAnyOrder("lk-1:v", "lk-2:w");
    assertThat(consumer.snapshot().processed()).isEqualTo(2);
    assertThat(consumer.snapshot().failures()).isZero();
  }
}
