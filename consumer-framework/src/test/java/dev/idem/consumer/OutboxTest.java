package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.testing.FaultAccess;
import dev.idem.consumer.outbox.Outbox;
import dev.idem.consumer.outbox.OutboxRecord;
import dev.idem.consumer.outbox.OutboxRecordTooLargeException;
import dev.idem.consumer.outbox.OutboxRelay;
import dev.idem.consumer.outbox.OutboxRelayHealth;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import dev.idem.testkit.TestInfrastructure;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The outbox against a real broker and database: a rolled-back publish sends nothing; a row whose
 * transaction commits late with a lower id is not skipped; two transactions of one key commit in
 * the order their rows are published; and end to end, a downstream idem consumer applies every
 * published event once, in commit order per key.
 */
class OutboxTest {
  @RegisterExtension final Closer closer = new Closer();

  private Outbox outbox(String name) {
    Outbox outbox = Outbox.builder().table(name.replace('-', '_')).build();
    return outbox;
  }

  /** The meters of the relay built last. */
  private io.micrometer.core.instrument.simple.SimpleMeterRegistry meters;

  private OutboxRelay relay(Outbox outbox, HikariDataSource pool, String name) {
    return relay(outbox, pool, name, null);
  }

  /** A started relay; {@code afterSend}, when given, runs after each Kafka commit. */
  private OutboxRelay relay(
      Outbox outbox, HikariDataSource pool, String name, IntConsumer afterSend) {
    meters = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    OutboxRelay.Builder builder =
        relayBuilder(outbox, pool, name).pollInterval(Duration.ofMillis(20)).meterRegistry(meters);
    if (afterSend != null) {
      FaultAccess.afterOutboxSend(builder, afterSend);
    }
    OutboxRelay relay = closer.add(builder.build());
    relay.start();
    return relay;
  }

  /** A relay of {@code name} on the test's broker, electing quickly; not started. */
  private static OutboxRelay.Builder relayBuilder(
      Outbox outbox, HikariDataSource pool, String name) {
    return relayBuilder(
        outbox, pool, name, Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap()));
  }

  private static OutboxRelay.Builder relayBuilder(
      Outbox outbox, HikariDataSource pool, String name, Map<String, Object> kafka) {
    AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
    return OutboxRelay.builder(outbox, pool, locks, kafka)
        .name(name)
        .leaderPing(Duration.ofMillis(200));
  }

  /** A handler's writes: its effect, then {@code publish}, then its failures. */
  @FunctionalInterface
  private interface EffectThenPublish {
    void run(Connection connection, String eventId, String value, SqlAction publish)
        throws Exception;
  }

  @FunctionalInterface
  private interface SqlAction {
    void run() throws SQLException;
  }

  /** Holds a relay's first round between its Kafka commit and its mark until released. */
  private static final class HeldRound implements IntConsumer {
    private final CountDownLatch sent = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);

    @Override
    public void accept(int rows) {
      if (sent.getCount() == 0) {
        return;
      }
      sent.countDown();
      try {
        released.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    void awaitSent() throws InterruptedException {
      assertThat(sent.await(30, TimeUnit.SECONDS)).as("the relay sent a round").isTrue();
    }

    void release() {
      released.countDown();
    }
  }

  private static Connection transaction(HikariDataSource pool) throws SQLException {
    Connection c = pool.getConnection();
    c.setAutoCommit(false);
    return c;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aRolledBackPublishSendsNothingAndACommittedOneArrivesOnceWithItsEventId() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-rollback");
    INFRA.createTopics(1, name);
    HikariDataSource pool = closer.add(pool(4));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    try (Connection c = transaction(pool)) {
      outbox.publish(
          c,
          new OutboxRecord(
              "rolled-back", name, utf8("k"), utf8("never"), Map.of("origin", utf8("test"))));
      c.rollback();
    }
    try (Connection c = transaction(pool)) {
      outbox.publish(
          c,
          new OutboxRecord(
              "committed", name, utf8("k"), utf8("applied"), Map.of("origin", utf8("test"))));
      c.commit();
    }
    assertThatThrownBy(
            () -> {
              try (Connection c = pool.getConnection()) {
                c.setAutoCommit(true);
                outbox.publish(c, OutboxRecord.of("auto", name, null, utf8("x")));
              }
            })
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("auto-commit");
    OutboxRelay relay = relay(outbox, pool, name);

    List<ConsumerRecord<byte[], byte[]>> records = readAll(name, 1);
    assertThat(records).hasSize(1);
    ConsumerRecord<byte[], byte[]> r = records.get(0);
    assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo("applied");
    assertThat(header(r, Outbox.EVENT_ID_HEADER)).isEqualTo("committed");
    assertThat(header(r, "origin")).isEqualTo("test");
    awaitTrue(
        Duration.ofSeconds(10),
        "the row marked sent",
        () ->
            countQuietly("SELECT count(*) FROM idem." + outbox.table() + " WHERE sent_at IS NULL")
                == 0);
    long rounds = relay.rounds();
    awaitTrue(Duration.ofSeconds(10), "more rounds", () -> relay.rounds() > rounds + 3);
    assertThat(readAll(name, 1)).as("nothing sent twice").hasSize(1);
    assertThat(meters.get("idem.outbox.published").counter().count()).isEqualTo(1.0);
    assertThat(meters.get("idem.outbox.leader").gauge().value()).isEqualTo(1.0);
    awaitTrue(
        Duration.ofSeconds(5),
        "nothing pending, as the relay counts",
        () -> meters.get("idem.outbox.pending").gauge().value() == 0.0);
    assertThat(meters.get("idem.outbox.oldest.pending.age").gauge().value()).isEqualTo(0.0);
    OutboxRelayHealth health = relay.health();
    assertThat(health.healthy()).isTrue();
    assertThat(health.leader()).isTrue();
    assertThat(health.epoch()).isPositive();
    assertThat(health.lastRound()).isNotNull();
    assertThat(health.failedRounds()).isZero();
    assertThat(health.pendingRows()).isZero();
    assertThat(health.oldestPending()).isEqualTo(Duration.ZERO);
    relay.close();
    assertThat(relay.health().running()).isFalse();
    assertThat(relay.health().healthy()).isFalse();
  }

  @Test
  void aLeaderThatCannotReachTheBrokerReportsUnhealthyAndMarksNothing() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-nobroker");
    HikariDataSource pool = closer.add(pool(4));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    try (Connection c = transaction(pool)) {
      outbox.publish(c, OutboxRecord.of("n-1", name, utf8("k"), utf8("waits")));
      c.commit();
    }
    // No broker listens on port 1; the producer gives up after 300 ms each round.
    OutboxRelay relay =
        closer.add(
            relayBuilder(
                    outbox,
                    pool,
                    name,
                    Map.of(
                        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        "127.0.0.1:1",
                        ProducerConfig.MAX_BLOCK_MS_CONFIG,
                        300))
                .build());
    relay.start();
    awaitTrue(
        Duration.ofSeconds(20),
        "two failed rounds",
        () -> relay.health().leader() && relay.health().failedRounds() >= 2);
    OutboxRelayHealth health = relay.health();
    assertThat(health.healthy()).isFalse();
    assertThat(health.running()).isTrue();
    assertThat(health.lastFailure()).isNotBlank();
    assertThat(health.pendingRows()).isEqualTo(1);
    assertThat(count("SELECT count(*) FROM idem." + outbox.table() + " WHERE sent_at IS NULL"))
        .as("rows marked sent")
        .isEqualTo(1);
  }

  @Test
  void aRowThatCommitsLateWithALowerIdIsNotSkippedAndOneKeysTransactionsKeepTheirOrder()
      throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-order");
    INFRA.createTopics(1, name);
    HikariDataSource pool = closer.add(pool(6));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    OutboxRelay relay = relay(outbox, pool, name);

    // A takes the lower id and stays open across several relay rounds; B commits first.
    Connection a = closer.add(transaction(pool));
    outbox.publish(a, OutboxRecord.of("late", name, utf8("key-a"), utf8("late")));
    try (Connection b = transaction(pool)) {
      outbox.publish(b, OutboxRecord.of("early", name, utf8("key-b"), utf8("early")));
      b.commit();
    }
    assertThat(readAll(name, 1))
        .extracting(r -> header(r, Outbox.EVENT_ID_HEADER))
        .containsExactly("early");
    long rounds = relay.rounds();
    awaitTrue(Duration.ofSeconds(10), "rounds while A is open", () -> relay.rounds() > rounds + 3);
    a.commit();
    assertThat(readAll(name, 2))
        .extracting(r -> header(r, Outbox.EVENT_ID_HEADER))
        .containsExactly("early", "late");

    // Two transactions of one key: the second's publish waits for the first to finish.
    ExecutorService second = Executors.newSingleThreadExecutor();
    closer.add(second::shutdownNow);
    Connection first = closer.add(transaction(pool));
    outbox.publish(first, OutboxRecord.of("k-1", name, utf8("key-c"), utf8("1")));
    Connection other = closer.add(transaction(pool));
    Future<?> blocked =
        second.submit(
            () -> {
              outbox.publish(other, OutboxRecord.of("k-2", name, utf8("key-c"), utf8("2")));
              other.commit();
              return null;
            });
    stays(Duration.ofMillis(500), "the second publish of key-c waits", () -> !blocked.isDone());
    first.commit();
    blocked.get(10, TimeUnit.SECONDS);
    assertThat(readAll(name, 4))
        .extracting(r -> header(r, Outbox.EVENT_ID_HEADER))
        .containsExactly("early", "late", "k-1", "k-2");
  }

  @Test
  void aDownstreamIdemConsumerAppliesEveryPublishedEventOnceInCommitOrderPerKey() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-e2e");
    String counters = name.replace('-', '_') + "_counters";
    String applied = name.replace('-', '_') + "_applied";
    INFRA.createTopics(2, name);
    sql("CREATE TABLE " + counters + " (k text PRIMARY KEY, n int NOT NULL)");
    sql("CREATE TABLE " + applied + " (k text, n int, event_id text, kafka_offset bigint)");
    for (int k = 0; k < 5; k++) {
      sql("INSERT INTO " + counters + " VALUES ('key-" + k + "', 0)");
    }
    HikariDataSource pool = closer.add(pool(16));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    relay(outbox, pool, name);
    IdempotentConsumer<String> downstream =
        closer.add(
            IdempotentConsumer.builder(config(name + "-down", name).build(), Payloads.utf8())
                .dataSource(pool)
                .eventIds(EventIds.header(Outbox.EVENT_ID_HEADER))
                .handler(
                    (value, ctx) -> {
                      try (PreparedStatement ps =
                          ctx.connection()
                              .prepareStatement(
                                  "INSERT INTO " + applied + " VALUES (?, ?, ?, ?)")) {
                        String[] kn = value.split(":");
                        ps.setString(1, kn[0]);
                        ps.setInt(2, Integer.parseInt(kn[1]));
                        ps.setString(3, ctx.eventId());
                        ps.setLong(4, ctx.offset());
                        ps.executeUpdate();
                      }
                    })
                .build());
    downstream.start();

    // Four writers, 50 transactions each: the counter's row lock orders a key's transactions,
    // and each publishes its new count.
    int writers = 4;
    int perWriter = 50;
    ExecutorService pool4 = Executors.newFixedThreadPool(writers);
    closer.add(pool4::shutdownNow);
    List<CompletableFuture<Void>> done = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      int writer = w;
      done.add(
          CompletableFuture.runAsync(
              () -> {
                for (int i = 0; i < perWriter; i++) {
                  String key = "key-" + ((writer + i) % 5);
                  try (Connection c = transaction(pool)) {
                    int n;
                    try (PreparedStatement ps =
                        c.prepareStatement(
                            "UPDATE " + counters + " SET n = n + 1 WHERE k = ? RETURNING n")) {
                      ps.setString(1, key);
                      try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        n = rs.getInt(1);
                      }
                    }
                    outbox.publish(
                        c, OutboxRecord.of(key + "#" + n, name, utf8(key), utf8(key + ":" + n)));
                    if (i % 10 == 9) {
                      c.rollback(); // a rolled-back transaction publishes nothing
                    } else {
                      c.commit();
                    }
                  } catch (SQLException e) {
                    throw new IllegalStateException(e);
                  }
                }
              },
              pool4));
    }
    CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
    long committed = writers * perWriter - writers * (perWriter / 10);
    assertThat(count("SELECT sum(n) FROM " + counters)).isEqualTo(committed);
    awaitTrue(
        Duration.ofSeconds(60),
        "every committed event applied downstream",
        () -> countQuietly("SELECT count(*) FROM " + applied) >= committed);
    stays(
        Duration.ofMillis(500),
        "no event applied twice",
        () -> countQuietly("SELECT count(*) FROM " + applied) == committed);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + applied)).isEqualTo(committed);
    // Per key, the counts 1..N arrive in offset order: commit order kept.
    for (int k = 0; k < 5; k++) {
      List<Integer> ns = new ArrayList<>();
      try (Connection c = pool.getConnection();
          PreparedStatement ps =
              c.prepareStatement(
                  "SELECT n FROM " + applied + " WHERE k = ? ORDER BY kafka_offset")) {
        ps.setString(1, "key-" + k);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            ns.add(rs.getInt(1));
          }
        }
      }
      long expected = count("SELECT n FROM " + counters + " WHERE k = ?", "key-" + k);
      assertThat(ns).hasSize((int) expected).isSorted();
      assertThat(ns).doesNotHaveDuplicates();
    }
  }

  /**
   * Per record, grouped (each record in a savepoint: a failing record's row rolls back with it, its
   * neighbours' rows commit) and in batches (a failed batch's rows roll back whole).
   */
  @ParameterizedTest
  @ValueSource(strings = {"record", "grouped", "batch"})
  void aHandlerThatUpdatesAndPublishesIsAppliedDownstreamOncePerSourceEvent(String mode)
      throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-" + mode);
    String out = name + "-out";
    String ledger = name.replace('-', '_') + "_ledger";
    String applied = name.replace('-', '_') + "_applied";
    INFRA.createTopics(1, name, out);
    sql("CREATE TABLE " + ledger + " (event_id text PRIMARY KEY)");
    sql("CREATE TABLE " + applied + " (event_id text, source text)");
    HikariDataSource pool = closer.add(pool(12));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    relay(outbox, pool, name);
    java.util.Set<String> failedOnce = java.util.concurrent.ConcurrentHashMap.newKeySet();
    // The ledger row and the outbox row, then the failures: both rows roll back with the attempt.
    EffectThenPublish apply =
        (connection, eventId, value, publish) -> {
          try (PreparedStatement ps =
              connection.prepareStatement("INSERT INTO " + ledger + " VALUES (?)")) {
            ps.setString(1, eventId);
            ps.executeUpdate();
          }
          publish.run();
          if (value.equals("poison")) {
            throw new NonRetryableException("published, then failed for good");
          }
          if (value.equals("flaky") && failedOnce.add(eventId)) {
            throw new IllegalStateException("published, then failed once");
          }
        };
    IdemConfig.Builder config = config(name, name);
    if (mode.equals("grouped")) {
      config.transactionMaxRecords(32);
    }
    IdempotentConsumer.Builder<String> builder =
        consumerBuilder(config.build(), Payloads.utf8(), pool);
    if (mode.equals("batch")) {
      builder.batchHandler(
          (events, ctx) -> {
            for (BatchEvent<String> e : events) {
              apply.run(
                  ctx.connection(),
                  e.eventId(),
                  e.payload(),
                  () -> outbox.publish(ctx, e, "applied", out, e.key(), utf8(e.eventId())));
            }
          });
    } else {
      builder.handler(
          (value, ctx) ->
              apply.run(
                  ctx.connection(),
                  ctx.eventId(),
                  value,
                  () -> outbox.publish(ctx, "applied", out, ctx.key(), utf8(ctx.eventId()))));
    }
    IdempotentConsumer<String> upstream = closer.add(builder.build());
    IdempotentConsumer<String> downstream =
        closer.add(
            IdempotentConsumer.builder(config(name + "-down", out).build(), Payloads.utf8())
                .dataSource(pool)
                .eventIds(EventIds.header(Outbox.EVENT_ID_HEADER))
                .handler(
                    (value, ctx) -> {
                      try (PreparedStatement ps =
                          ctx.connection()
                              .prepareStatement("INSERT INTO " + applied + " VALUES (?, ?)")) {
                        ps.setString(1, ctx.eventId());
                        ps.setString(2, value);
                        ps.executeUpdate();
                      }
                    })
                .build());
    upstream.start();
    downstream.start();
    List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records =
        new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      String payload = i == 7 ? "poison" : i % 5 == 0 ? "flaky" : "ok";
      records.add(record(name, 0, "k" + (i % 3), "e-" + i, payload));
      if (i % 4 == 0) {
        records.add(record(name, 0, "k" + (i % 3), "e-" + i, payload)); // a duplicate delivery
      }
    }
    send(records);
    awaitTrue(
        Duration.ofSeconds(60),
        "29 events applied downstream",
        () -> countQuietly("SELECT count(*) FROM " + applied) >= 29);
    stays(
        Duration.ofMillis(500),
        "nothing applied twice",
        () -> countQuietly("SELECT count(*) FROM " + applied) == 29);
    assertThat(count("SELECT count(*) FROM " + ledger)).isEqualTo(29);
    assertThat(strings("SELECT source FROM " + applied))
        .hasSize(29)
        .doesNotContain("e-7")
        .contains("e-0", "e-5", "e-29");
    assertThat(strings("SELECT event_id FROM " + applied))
        .contains(Outbox.derivedEventId(name, "e-0", "applied"));
    assertThat(count("SELECT count(*) FROM idem." + outbox.table())).isEqualTo(29);
  }

  @Test
  void whenTheLeadersSessionIsTerminatedTheOtherRelayTakesOverAndNothingIsLostOrReordered()
      throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-failover");
    INFRA.createTopics(1, name);
    HikariDataSource pool = closer.add(pool(8));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    OutboxRelay one = relay(outbox, pool, name);
    OutboxRelay two = relay(outbox, pool, name);
    awaitTrue(Duration.ofSeconds(10), "a leader", () -> one.isLeader() || two.isLeader());
    OutboxRelay leader = one.isLeader() ? one : two;
    OutboxRelay standby = leader == one ? two : one;
    assertThat(standby.health().leader()).isFalse();
    assertThat(standby.health().healthy()).as("a standby is healthy").isTrue();
    assertThat(standby.health().pendingRows()).isEqualTo(-1);
    int events = 60;
    for (int i = 0; i < events; i++) {
      if (i == events / 2) {
        // The leader's session goes; its relay steps down and the other one is elected.
        sql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND"
                + " granted AND ((classid::bigint << 32) | objid::bigint) = "
                + dev.idem.lock.LockKey.of(OutboxRelay.ROLE_NAMESPACE, name).value());
      }
      try (Connection c = transaction(pool)) {
        outbox.publish(c, OutboxRecord.of("f-" + i, name, utf8("k" + (i % 3)), utf8("" + i)));
        c.commit();
      }
      Thread.sleep(20);
    }
    awaitTrue(Duration.ofSeconds(30), "the standby leads", standby::isLeader);
    List<ConsumerRecord<byte[], byte[]>> records = readAll(name, events);
    Map<String, List<Integer>> firstSeenPerKey = new HashMap<>();
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      if (seen.add(header(r, Outbox.EVENT_ID_HEADER))) {
        firstSeenPerKey
            .computeIfAbsent(new String(r.key(), StandardCharsets.UTF_8), k -> new ArrayList<>())
            .add(Integer.parseInt(new String(r.value(), StandardCharsets.UTF_8)));
      }
    }
    assertThat(seen).as("lost 0").hasSize(events);
    firstSeenPerKey.values().forEach(ns -> assertThat(ns).as("order per key").isSorted());
    awaitTrue(
        Duration.ofSeconds(10),
        "every row marked sent",
        () ->
            countQuietly("SELECT count(*) FROM idem." + outbox.table() + " WHERE sent_at IS NULL")
                == 0);
  }

  @Test
  void aStaleRelayCannotMarkWhatItSentOnceANewLeaderTookOver() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-stale");
    INFRA.createTopics(1, name);
    HikariDataSource pool = closer.add(pool(8));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    String unsent = "SELECT count(*) FROM idem." + outbox.table() + " WHERE sent_at IS NULL";
    HeldRound oneHeld = new HeldRound();
    OutboxRelay one = relay(outbox, pool, name, oneHeld);
    var oneMeters = meters;
    awaitTrue(Duration.ofSeconds(10), "the first relay leads", one::isLeader);
    try (Connection c = transaction(pool)) {
      outbox.publish(c, OutboxRecord.of("s-1", name, utf8("k"), utf8("one")));
      c.commit();
    }
    // The first relay's Kafka transaction committed; it stops before marking the row.
    oneHeld.awaitSent();
    sql(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND"
            + " granted AND ((classid::bigint << 32) | objid::bigint) = "
            + dev.idem.lock.LockKey.of(OutboxRelay.ROLE_NAMESPACE, name).value());
    awaitTrue(Duration.ofSeconds(10), "the first relay stepped down", () -> !one.isLeader());
    HeldRound twoHeld = new HeldRound();
    OutboxRelay two = relay(outbox, pool, name, twoHeld);
    awaitTrue(Duration.ofSeconds(10), "the second relay leads", two::isLeader);
    // The new leader sends the unmarked row again and stops before its own mark.
    twoHeld.awaitSent();
    oneHeld.release();
    awaitTrue(
        Duration.ofSeconds(10),
        "the stale relay's mark refused",
        () -> oneMeters.get("idem.outbox.fenced").counter().count() == 1.0);
    assertThat(count(unsent)).as("rows the stale relay marked").isEqualTo(1);
    twoHeld.release();
    awaitTrue(
        Duration.ofSeconds(10), "the new leader marked the row", () -> countQuietly(unsent) == 0);
    assertThat(meters.get("idem.outbox.fenced").counter().count()).isZero();
    List<ConsumerRecord<byte[], byte[]>> records = readAll(name, 2);
    assertThat(records)
        .as("sent by both relays, with one event id for a downstream consumer to deduplicate on")
        .hasSize(2)
        .allSatisfy(r -> assertThat(header(r, Outbox.EVENT_ID_HEADER)).isEqualTo("s-1"));
  }

  @Test
  void aRoundTheBrokerRefusesIsAbortedWholeAndSentAgainInOrderOnceItIsAccepted() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-refused");
    // The topic refuses batches over 2,000 bytes: the third record alone is 5,000.
    TestInfrastructure.createTopics(bootstrap(), 1, Map.of("max.message.bytes", "2000"), name);
    HikariDataSource pool = closer.add(pool(4));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    for (int i = 1; i <= 5; i++) {
      try (Connection c = transaction(pool)) {
        byte[] value = i == 3 ? new byte[5000] : utf8("" + i);
        outbox.publish(c, OutboxRecord.of("x-" + i, name, utf8("k"), value));
        c.commit();
      }
    }
    OutboxRelay relay = relay(outbox, pool, name);
    awaitTrue(Duration.ofSeconds(30), "failed rounds", () -> relay.health().failedRounds() >= 2);
    assertThat(relay.health().healthy()).isFalse();
    assertThat(count("SELECT count(*) FROM idem." + outbox.table() + " WHERE sent_at IS NULL"))
        .as("rows of the refused round marked sent")
        .isEqualTo(5);
    assertThat(readAll(name, 0))
        .as("records of the aborted rounds a read_committed reader sees")
        .isEmpty();

    try (var admin =
        org.apache.kafka.clients.admin.Admin.create(Map.of("bootstrap.servers", bootstrap()))) {
      var topic =
          new org.apache.kafka.common.config.ConfigResource(
              org.apache.kafka.common.config.ConfigResource.Type.TOPIC, name);
      var op =
          new org.apache.kafka.clients.admin.AlterConfigOp(
              new org.apache.kafka.clients.admin.ConfigEntry("max.message.bytes", "100000"),
              org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET);
      admin.incrementalAlterConfigs(Map.of(topic, List.of(op))).all().get(30, TimeUnit.SECONDS);
    }
    List<ConsumerRecord<byte[], byte[]>> records = readAll(name, 5);
    assertThat(records.stream().map(r -> header(r, Outbox.EVENT_ID_HEADER)))
        .as("the round sent again whole, in order, once")
        .containsExactly("x-1", "x-2", "x-3", "x-4", "x-5");
    awaitTrue(Duration.ofSeconds(10), "healthy again", () -> relay.health().healthy());
  }

  @Test
  void aRecordOverTheLimitIsRefusedAtPublishAndNothingIsWrittenAndARelayNeedsAName()
      throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-large");
    HikariDataSource pool = closer.add(pool(2));
    Outbox outbox = Outbox.builder().table(name.replace('-', '_')).maxRecordBytes(100).build();
    outbox.applySchema(pool);
    try (Connection c = transaction(pool)) {
      assertThatThrownBy(
              () ->
                  outbox.publish(
                      c,
                      new OutboxRecord(
                          "big", name, utf8("k"), new byte[60], Map.of("h", new byte[30]))))
          .isInstanceOf(OutboxRecordTooLargeException.class)
          .isInstanceOf(NonRetryableException.class)
          .hasMessageContaining("over the outbox's limit of 100")
          .hasMessageContaining("maxRecordBytes");
      outbox.publish(c, OutboxRecord.of("small", name, utf8("k"), new byte[40]));
      c.commit();
    }
    assertThat(strings("SELECT event_id FROM idem." + outbox.table())).containsExactly("small");
    AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
    assertThatThrownBy(
            () ->
                OutboxRelay.builder(
                        outbox,
                        pool,
                        locks,
                        Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap()))
                    .build())
        .as("a relay without a name of its own")
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("transactional.id");
  }

  @Test
  void sentRowsPastTheRetentionAreDeletedWhileTheRelayIsStillBusy() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-retention");
    INFRA.createTopics(1, name);
    HikariDataSource pool = closer.add(pool(4));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    int rows = 400;
    try (Connection c = transaction(pool)) {
      for (int i = 0; i < rows; i++) {
        outbox.publish(c, OutboxRecord.of("r-" + i, name, utf8("k" + (i % 4)), utf8("" + i)));
      }
      c.commit();
    }
    // One row a round: the relay is busy for hundreds of rounds and never finds the table empty.
    OutboxRelay relay =
        closer.add(
            relayBuilder(outbox, pool, name).batchSize(1).retention(Duration.ofSeconds(1)).build());
    relay.start();
    String table = "idem." + outbox.table();
    awaitTrue(
        Duration.ofSeconds(20),
        "sent rows deleted while rows are still unsent",
        () ->
            countQuietly("SELECT count(*) FROM " + table) < rows
                && countQuietly("SELECT count(*) FROM " + table + " WHERE sent_at IS NULL") > 0);
    assertThat(count("SELECT count(*) FROM " + table + " WHERE sent_at < now() - interval '3 s'"))
        .as("rows sent more than the retention ago, with a margin")
        .isZero();
  }

  @Test
  void publishAllTakesItsKeysLocksInOneOrderWhateverTheOrderOfTheList() throws Exception {
    String name = TestInfrastructure.uniqueName("outbox-all");
    HikariDataSource pool = closer.add(pool(6));
    Outbox outbox = outbox(name);
    outbox.applySchema(pool);
    byte[] a = utf8("a");
    byte[] b = utf8("b");
    boolean aFirst = orderLock(name, a) < orderLock(name, b);
    byte[] low = aFirst ? a : b;
    byte[] high = aFirst ? b : a;
    ExecutorService threads = Executors.newSingleThreadExecutor();
    closer.add(threads::shutdownNow);
    try (Connection one = transaction(pool)) {
      outbox.publish(one, OutboxRecord.of("one-low", name, low, utf8("1")));
      // The list names the higher key first: publishAll still waits for the lower one first,
      // holding nothing, where publishing in the list's order would hold the higher one.
      Future<?> two =
          threads.submit(
              () -> {
                try (Connection c = transaction(pool)) {
                  outbox.publishAll(
                      c,
                      List.of(
                          OutboxRecord.of("two-high", name, high, utf8("2")),
                          OutboxRecord.of("two-low", name, low, utf8("2"))));
                  c.commit();
                }
                return null;
              });
      awaitTrue(
          Duration.ofSeconds(10),
          "the second transaction waiting for a lock",
          () ->
              countQuietly(
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                  == 1);
      try (Connection three = transaction(pool)) {
        try (var s = three.createStatement()) {
          s.execute("SET LOCAL lock_timeout = '2s'");
        }
        outbox.publish(three, OutboxRecord.of("three-high", name, high, utf8("3")));
        three.commit();
      }
      one.commit();
      two.get(10, TimeUnit.SECONDS);
    }
    List<String> inIdOrder = new ArrayList<>();
    try (Connection c = pool.getConnection();
        var s = c.createStatement();
        ResultSet rs =
            s.executeQuery("SELECT event_id FROM idem." + outbox.table() + " ORDER BY id")) {
      while (rs.next()) {
        inIdOrder.add(rs.getString(1));
      }
    }
    assertThat(inIdOrder).containsExactly("one-low", "three-high", "two-low", "two-high");
  }

  private static long orderLock(String topic, byte[] key) {
    return dev.idem.lock.LockKey.of(
            Outbox.LOCK_NAMESPACE, topic + "\u0000" + java.util.HexFormat.of().formatHex(key))
        .value();
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    var h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  /** Every committed record of {@code topic}, once at least {@code atLeast} are there. */
  private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int atLeast) {
    Map<String, Object> settings = new HashMap<>();
    settings.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    settings.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    settings.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    try (KafkaConsumer<byte[], byte[]> reader =
        new KafkaConsumer<>(settings, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          reader.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .toList();
      reader.assign(partitions);
      reader.seekToBeginning(partitions);
      Map<TopicPartition, Long> ends = new LinkedHashMap<>();
      List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (System.nanoTime() < deadline) {
        reader.poll(Duration.ofMillis(100)).forEach(all::add);
        if (all.size() >= atLeast) {
          ends.putAll(reader.endOffsets(partitions));
          boolean caughtUp = true;
          for (TopicPartition tp : partitions) {
            caughtUp &= reader.position(tp) >= ends.get(tp);
          }
          if (caughtUp) {
            return all;
          }
        }
      }
      throw new AssertionError(
          "only " + all.size() + " of at least " + atLeast + " records on " + topic);
    }
  }
}
