package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Grouped transactions ({@code consumer.transaction.max-records}): several records of a partition
 * in one transaction through the per-record handler, each in a savepoint of its own.
 */
class GroupedTransactionTest {
  private static final int RECORDS = 10;

  @RegisterExtension final Closer closer = new Closer();

  private IdempotentConsumer<String> start(
      IdemConfig config,
      DataSource pool,
      GateExecutor gate,
      TransactionHook hook,
      EventHandler<String> handler) {
    IdempotentConsumer<String> c =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), pool)
                .executor(gate)
                .transactionHook(hook)
                .handler(handler)
                .build());
    c.start();
    return c;
  }

  /** Starts a grouped consumer on {@code name}'s records and lets its first group run whole. */
  private IdempotentConsumer<String> startWhenAllInFlight(
      IdemConfig config, int records, EventHandler<String> handler) {
    return startWhenAllInFlight(config, records, TransactionHook.NONE, handler);
  }

  /** {@link #startWhenAllInFlight(IdemConfig, int, EventHandler)} with a transaction hook. */
  private IdempotentConsumer<String> startWhenAllInFlight(
      IdemConfig config, int records, TransactionHook hook, EventHandler<String> handler) {
    GateExecutor gate = new GateExecutor();
    closer.add(gate::close);
    IdempotentConsumer<String> c = start(config, closer.add(pool(4)), gate, hook, handler);
    awaitTrue(
        Duration.ofSeconds(60), "every record in flight", () -> c.snapshot().inFlight() == records);
    gate.open();
    return c;
  }

  /** Ten records on partition 0: even offsets keyed "a", odd ones "b"; event ids e0..e9. */
  private static List<ProducerRecord<byte[], byte[]>> tenRecords(String topic) {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < RECORDS; i++) {
      records.add(record(topic, 0, i % 2 == 0 ? "a" : "b", "e" + i, "v" + i));
    }
    return records;
  }

  private static long transactionId(ProcessingContext ctx) throws SQLException {
    try (Statement s = ctx.connection().createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT txid_current()")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static long applied(String table, String eventId) throws SQLException {
    return count("SELECT count(*) FROM " + table + " WHERE event_id = ?", eventId);
  }

  private static long marks(String consumer, String eventId) throws SQLException {
    return count(
        "SELECT count(*) FROM idem.processed_events WHERE consumer_name = ? AND event_id = ?",
        consumer,
        eventId);
  }

  /** Whether PostgreSQL records offset {@code offset} of partition 0 as done. */
  private static boolean doneInDatabase(String consumer, long offset) throws SQLException {
    return count(
                "SELECT count(*) FROM idem.consumer_offsets_done WHERE consumer_name = ?"
                    + " AND kafka_partition = 0 AND first_offset <= ? AND last_offset >= ?",
                consumer,
                offset,
                offset)
            + count(
                "SELECT count(*) FROM idem.consumer_offsets WHERE consumer_name = ?"
                    + " AND kafka_partition = 0 AND next_offset > ?",
                consumer,
                offset)
        > 0;
  }

  private static void awaitCommitted(String group, String topic, long offset) {
    awaitTrue(
        Duration.ofSeconds(60),
        "offset " + offset + " committed",
        () -> {
          try {
            return Long.valueOf(offset)
                .equals(committedOffsets(group).get(new TopicPartition(topic, 0)));
          } catch (Exception e) {
            return false;
          }
        });
  }

  @ParameterizedTest
  @EnumSource(OffsetStore.class)
  void aFailingRecordRollsBackAloneWithItsMarkAndHoldsBackOnlyTheLaterRecordsOfItsKey(
      OffsetStore offsets) throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-fail");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(tenRecords(name));
    AtomicInteger callsOfE2 = new AtomicInteger();
    CountDownLatch retryReached = new CountDownLatch(1);
    CountDownLatch checked = new CountDownLatch(1);
    Map<String, Long> firstTransaction = new ConcurrentHashMap<>();
    EventHandler<String> handler =
        (event, ctx) -> {
          insertEffect(name, event, ctx);
          firstTransaction.putIfAbsent(ctx.eventId(), transactionId(ctx));
          if (ctx.eventId().equals("e2")) {
            int call = callsOfE2.incrementAndGet();
            if (call == 1) {
              throw new IllegalStateException("e2 fails once");
            }
            if (call == 2) {
              // Its retry waits while the test looks at what the group's commit left.
              retryReached.countDown();
              assertThat(checked.await(30, TimeUnit.SECONDS)).isTrue();
            }
          }
        };
    IdemConfig config =
        config(name, name).transactionMaxRecords(32).offsetStore(offsets).concurrency(1).build();
    startWhenAllInFlight(config, RECORDS, handler);

    assertThat(retryReached.await(60, TimeUnit.SECONDS)).as("e2 retried").isTrue();
    try {
      assertThat(marks(name, "e2")).as("the failed record's mark rolled back").isZero();
      if (offsets == OffsetStore.POSTGRESQL) {
        assertThat(doneInDatabase(name, 2)).as("no done row for the failed record").isFalse();
        assertThat(doneInDatabase(name, 1)).as("done rows for the committed ones").isTrue();
      }
      for (int i = 0; i < RECORDS; i++) {
        String id = "e" + i;
        if (i == 2) {
          assertThat(applied(name, id)).as(id).isZero();
        } else if (i % 2 == 0 && i > 2) {
          assertThat(applied(name, id)).as(id + ", after e2 in its key, waits").isZero();
          assertThat(marks(name, id)).as(id).isZero();
        } else {
          assertThat(applied(name, id)).as(id + " committed in the group").isEqualTo(1);
        }
      }
    } finally {
      checked.countDown();
    }

    awaitCommitted(name, name, RECORDS);
    for (int i = 0; i < RECORDS; i++) {
      assertThat(applied(name, "e" + i)).as("e" + i + " applied once").isEqualTo(1);
    }
    assertThat(callsOfE2.get()).isEqualTo(2);
    // One transaction ran every record up to e2 and the other key's records after it.
    for (String id : List.of("e0", "e1", "e3", "e5", "e7", "e9")) {
      assertThat(firstTransaction.get(id)).as(id).isEqualTo(firstTransaction.get("e2"));
    }
    // The held-back records ran after e2, in offset order.
    assertThat(
            strings(
                "SELECT string_agg(event_id, ',' ORDER BY at) FROM "
                    + name
                    + " WHERE event_id IN ('e2', 'e4', 'e6', 'e8')"))
        .containsExactly("e2,e4,e6,e8");
  }

  @Test
  void aRecordThatAlwaysFailsIsDeadLetteredAloneAndTheOthersApplyOnce() throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-poison");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(tenRecords(name));
    EventHandler<String> handler =
        (event, ctx) -> {
          insertEffect(name, event, ctx);
          if (ctx.eventId().equals("e3")) {
            throw new IllegalStateException("e3 always fails");
          }
        };
    IdemConfig config = config(name, name).transactionMaxRecords(32).build();
    IdempotentConsumer<String> c = startWhenAllInFlight(config, RECORDS, handler);

    awaitCommitted(name, name, RECORDS);
    assertThat(strings("SELECT event_id FROM idem.dead_letters WHERE consumer_name = ?", name))
        .containsExactly("e3");
    assertThat(applied(name, "e3")).isZero();
    for (int i = 0; i < RECORDS; i++) {
      if (i != 3) {
        assertThat(applied(name, "e" + i)).as("e" + i).isEqualTo(1);
      }
    }
    assertThat(c.snapshot().processed()).isEqualTo(RECORDS - 1);
  }

  @Test
  void copiesInOneGroupAndAcrossPartitionsApplyOnce() throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-dup");
    INFRA.createTopics(2, name);
    createEffectsTable(name);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      // Each event on both partitions, and on partition 0 twice more, under other keys.
      records.add(record(name, 0, "k" + i, "d" + i, "v" + i));
      records.add(record(name, 1, "k" + i, "d" + i, "v" + i));
      records.add(record(name, 0, "x" + i, "d" + i, "v" + i));
    }
    send(records);
    IdemConfig config = config(name, name).transactionMaxRecords(32).concurrency(2).build();
    IdempotentConsumer<String> c =
        startWhenAllInFlight(
            config, records.size(), (event, ctx) -> insertEffect(name, event, ctx));

    awaitTrue(
        Duration.ofSeconds(60),
        "every copy handled",
        () -> c.snapshot().processed() + c.snapshot().duplicates() == records.size());
    assertThat(count("SELECT count(*) FROM " + name)).isEqualTo(20);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + name)).isEqualTo(20);
    assertThat(c.snapshot().processed()).isEqualTo(20);
    assertThat(c.snapshot().duplicates()).isEqualTo(40);
  }

  @Test
  void aHandlerThatSwallowsAnSqlErrorIsNotCountedDoneAndIsRetriedAlone() throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-swallow");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(tenRecords(name));
    Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    EventHandler<String> handler =
        (event, ctx) -> {
          insertEffect(name, event, ctx);
          int call =
              calls.computeIfAbsent(ctx.eventId(), id -> new AtomicInteger()).incrementAndGet();
          if (ctx.eventId().equals("e5") && call == 1) {
            try (Statement s = ctx.connection().createStatement()) {
              s.execute("SELECT 1 / 0");
            } catch (SQLException ignored) {
              // The misuse under test: the transaction is aborted now.
            }
          }
        };
    IdemConfig config = config(name, name).transactionMaxRecords(32).build();
    IdempotentConsumer<String> c = startWhenAllInFlight(config, RECORDS, handler);

    awaitCommitted(name, name, RECORDS);
    for (int i = 0; i < RECORDS; i++) {
      assertThat(applied(name, "e" + i)).as("e" + i + " applied once").isEqualTo(1);
    }
    assertThat(calls.get("e5").get()).as("e5 retried").isEqualTo(2);
    assertThat(calls.get("e6").get()).as("e6 was not in e5's key").isEqualTo(1);
    assertThat(c.snapshot().failures()).isPositive();
    assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
        .isZero();
  }

  /**
   * A hook that runs a failing statement on the transaction's connection after e4's handler
   * returned and swallows the error, as a before-commit listener that catches its SQLException
   * does: the transaction is aborted after e4's handler passed the state check.
   */
  @Test
  void aHookThatAbortsTheTransactionAfterARecordsHandlerFailsThatRecordAloneAndLosesNothing()
      throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-hook");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(tenRecords(name));
    Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    ThreadLocal<String> current = new ThreadLocal<>();
    ThreadLocal<Connection> hookConnection = new ThreadLocal<>();
    AtomicBoolean aborted = new AtomicBoolean();
    TransactionHook hook =
        new TransactionHook() {
          @Override
          public void beforeHandler(String consumerName, Connection connection) {
            hookConnection.set(connection);
          }

          @Override
          public void afterHandler() {
            if ("e4".equals(current.get()) && aborted.compareAndSet(false, true)) {
              swallowFailingStatement(hookConnection.get());
            }
          }

          @Override
          public void handlerFailed() {}

          @Override
          public void afterCompletion(boolean committed) {
            hookConnection.remove();
          }
        };
    EventHandler<String> handler =
        (event, ctx) -> {
          current.set(ctx.eventId());
          calls.computeIfAbsent(ctx.eventId(), id -> new AtomicInteger()).incrementAndGet();
          insertEffect(name, event, ctx);
        };
    IdemConfig config = config(name, name).transactionMaxRecords(32).build();
    IdempotentConsumer<String> c = startWhenAllInFlight(config, RECORDS, hook, handler);

    awaitCommitted(name, name, RECORDS);
    assertThat(aborted).as("the hook aborted e4's transaction").isTrue();
    for (int i = 0; i < RECORDS; i++) {
      String id = "e" + i;
      assertThat(applied(name, id)).as(id + " applied once").isEqualTo(1);
      assertThat(marks(name, id)).as(id + " marked").isEqualTo(1);
    }
    assertThat(calls.get("e4").get()).as("e4 retried alone").isEqualTo(2);
    assertThat(calls.get("e5").get()).as("e5 committed in the group").isEqualTo(1);
    assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
        .isZero();
    assertThat(c.snapshot().processed()).isEqualTo(RECORDS);
    assertThat(c.snapshot().failures()).as("one failure, e4's").isEqualTo(1);
  }

  /**
   * e2's handler hands its connection, a prepared statement and a result set to a thread of its
   * own, which uses them while e5's handler runs in the same transaction.
   */
  @Test
  void aConnectionLeakedByOneRecordsHandlerCannotWriteIntoALaterRecordsSavepoint()
      throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-leak");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(tenRecords(name));
    CountDownLatch e5Running = new CountDownLatch(1);
    CompletableFuture<List<String>> leakedUses = new CompletableFuture<>();
    EventHandler<String> handler =
        (event, ctx) -> {
          insertEffect(name, event, ctx);
          if (ctx.eventId().equals("e2")) {
            Connection leaked = ctx.connection();
            PreparedStatement insert =
                leaked.prepareStatement(
                    "INSERT INTO " + name + " (event_id, payload) VALUES ('e2', 'leaked')");
            ResultSet rows = leaked.createStatement().executeQuery("SELECT generate_series(1, 3)");
            Thread thread =
                new Thread(
                    () -> {
                      try {
                        assertThat(e5Running.await(30, TimeUnit.SECONDS)).isTrue();
                        leakedUses.complete(
                            LeakedUses.tryAll(
                                insert::executeUpdate,
                                () -> {
                                  try (Statement s = leaked.createStatement()) {
                                    s.executeUpdate(
                                        "INSERT INTO "
                                            + name
                                            + " (event_id, payload) VALUES ('e2', 'leaked')");
                                  }
                                },
                                rows::next));
                      } catch (Throwable t) {
                        leakedUses.completeExceptionally(t);
                      }
                    });
            thread.start();
          }
          if (ctx.eventId().equals("e5")) {
            e5Running.countDown();
            leakedUses.get(30, TimeUnit.SECONDS);
          }
        };
    IdemConfig config = config(name, name).transactionMaxRecords(32).build();
    IdempotentConsumer<String> c = startWhenAllInFlight(config, RECORDS, handler);

    awaitCommitted(name, name, RECORDS);
    LeakedUses.assertAllRefused(leakedUses.get(30, TimeUnit.SECONDS), "e2");
    assertThat(count("SELECT count(*) FROM " + name + " WHERE payload = 'leaked'"))
        .as("nothing the leaked connection tried landed")
        .isZero();
    for (int i = 0; i < RECORDS; i++) {
      assertThat(applied(name, "e" + i)).as("e" + i).isEqualTo(1);
    }
    assertThat(c.snapshot().failures()).isZero();
  }

  @Test
  void aHandlersOwnSavepointNestsInsideItsRecordsSavepoint() throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-nested");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(tenRecords(name));
    Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    EventHandler<String> handler =
        (event, ctx) -> {
          calls.computeIfAbsent(ctx.eventId(), id -> new AtomicInteger()).incrementAndGet();
          try {
            ctx.withSavepoint(
                c -> {
                  insertEffect(name, "undone", ctx);
                  try (Statement s = c.createStatement()) {
                    return s.execute("SELECT 1 / 0");
                  }
                });
          } catch (SQLException expected) {
            // Tried and undone: the handler carries on, as the context's javadoc allows.
          }
          insertEffect(name, event, ctx);
        };
    IdemConfig config = config(name, name).transactionMaxRecords(32).build();
    IdempotentConsumer<String> c = startWhenAllInFlight(config, RECORDS, handler);

    awaitCommitted(name, name, RECORDS);
    assertThat(count("SELECT count(*) FROM " + name + " WHERE payload = 'undone'")).isZero();
    for (int i = 0; i < RECORDS; i++) {
      assertThat(applied(name, "e" + i)).as("e" + i).isEqualTo(1);
      assertThat(calls.get("e" + i).get()).as("e" + i + " ran once").isEqualTo(1);
    }
    assertThat(c.snapshot().failures()).isZero();
  }

  /** How records reach their transaction, for the test of what a retrying record holds back. */
  enum Mode {
    RECORD,
    GROUPED,
    BATCH
  }

  /**
   * Pins a documented limit: in grouped and batch mode the lane is the partition, so a record
   * waiting for its retry holds back every later record of its partition; per record, only those of
   * its key.
   */
  @ParameterizedTest
  @EnumSource(Mode.class)
  void aRetryingRecordHoldsBackItsWholePartitionInGroupedAndBatchModeButOnlyItsKeyPerRecord(
      Mode mode) throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-hold-" + mode.name().toLowerCase());
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      records.add(record(name, 0, i == 0 ? "a" : "b", "e" + i, "v" + i));
    }
    send(records);
    IdemConfig.Builder config =
        config(name, name).retry(RetryPolicy.fixed(5, Duration.ofMillis(1500)));
    IdempotentConsumer.Builder<String> builder =
        consumerBuilder(
            switch (mode) {
              case RECORD -> config.build();
              case GROUPED -> config.transactionMaxRecords(2).build();
              case BATCH -> config.batchSize(2).build();
            },
            Payloads.utf8(),
            closer.add(pool(4)));
    // e0 (key "a") fails twice, then waits 1.5 s for its third attempt.
    if (mode == Mode.BATCH) {
      builder.batchHandler(
          (events, ctx) -> {
            for (BatchEvent<String> e : events) {
              if (e.eventId().equals("e0") && ctx.attempt() < 3) {
                throw new IllegalStateException("e0 fails twice");
              }
              try (var ps =
                  ctx.connection()
                      .prepareStatement(
                          "INSERT INTO " + name + " (event_id, payload) VALUES (?, ?)")) {
                ps.setString(1, e.eventId());
                ps.setString(2, e.payload());
                ps.executeUpdate();
              }
            }
          });
    } else {
      builder.handler(
          (event, ctx) -> {
            if (ctx.eventId().equals("e0") && ctx.attempt() < 3) {
              throw new IllegalStateException("e0 fails twice");
            }
            insertEffect(name, event, ctx);
          });
    }
    GateExecutor gate = closer.add(new GateExecutor());
    IdempotentConsumer<String> c = closer.add(builder.executor(gate).build());
    c.start();
    awaitTrue(Duration.ofSeconds(60), "every record in flight", () -> c.snapshot().inFlight() == 4);
    gate.open();

    awaitCommitted(name, name, 4);
    // e2 and e3 (key "b") come after the first group or batch: are they applied before e0 is?
    long appliedBeforeE0 =
        count(
            "SELECT count(*) FROM "
                + name
                + " b WHERE b.event_id IN ('e2', 'e3')"
                + " AND b.at < (SELECT at FROM "
                + name
                + " WHERE event_id = 'e0')");
    assertThat(count("SELECT count(*) FROM " + name)).as("each applied once").isEqualTo(4);
    if (mode == Mode.RECORD) {
      assertThat(appliedBeforeE0).as("only e0's key waits").isEqualTo(2);
    } else {
      assertThat(appliedBeforeE0).as("the whole partition waits for e0").isZero();
    }
  }

  @Test
  void moreThanSixtyFourRecordsPerTransactionAreRefusedWithTheKeyAndTheReason() {
    assertThatThrownBy(() -> config("c", "t").transactionMaxRecords(65).build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("consumer.transaction.max-records")
        .hasMessageContaining("64 subtransactions")
        .extracting(e -> ((IdemConfigException) e).key())
        .isEqualTo("consumer.transaction.max-records");
    assertThat(config("c", "t").transactionMaxRecords(64).build().transactionMaxRecords())
        .isEqualTo(64);
    assertThat(config("c", "t").build().transactionMaxRecords()).as("off by default").isEqualTo(1);
  }

  @Test
  void groupedTransactionsAreRefusedWithABatchHandlerAndWithParkKey() {
    IdemConfig grouped = config("c", "t").transactionMaxRecords(32).build();
    assertThatThrownBy(
            () ->
                consumerBuilder(grouped, Payloads.utf8(), INFRA.postgres().dataSource())
                    .batchHandler((events, ctx) -> {})
                    .build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("batch handler")
        .extracting(e -> ((IdemConfigException) e).key())
        .isEqualTo("consumer.transaction.max-records");
    IdemConfig parked =
        config("c", "t")
            .transactionMaxRecords(32)
            .set("consumer.dead-letter.on-failure", "park-key")
            .build();
    assertThatThrownBy(
            () ->
                consumerBuilder(parked, Payloads.utf8(), INFRA.postgres().dataSource())
                    .handler((event, ctx) -> {})
                    .build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("park-key")
        .extracting(e -> ((IdemConfigException) e).key())
        .isEqualTo("consumer.transaction.max-records");
  }
}
