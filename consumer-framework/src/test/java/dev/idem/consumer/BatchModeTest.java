package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class BatchModeTest {
  @RegisterExtension final Closer closer = new Closer();

  private <C extends AutoCloseable> C closeLater(C closeable) {
    return closer.add(closeable);
  }

  private IdempotentConsumer<String> batchConsumer(
      IdemConfig config, javax.sql.DataSource pool, BatchHandler<String> handler) {
    IdempotentConsumer<String> c =
        closeLater(consumerBuilder(config, Payloads.utf8(), pool).batchHandler(handler).build());
    c.start();
    return c;
  }

  @Test
  void overlappingBatchesOfTwoInstancesNeverDeadlockAndApplyEachEventOnce() throws Exception {
    String name = TestInfrastructure.uniqueName("overlap");
    INFRA.createTopics(4, name);
    sql("CREATE TABLE " + name + "_accounts (account text PRIMARY KEY, balance bigint NOT NULL)");
    sql("INSERT INTO " + name + "_accounts SELECT 'a' || g, 0 FROM generate_series(0, 19) g");
    sql("CREATE TABLE " + name + "_entries (event_id text NOT NULL, account text, amount int)");
    int events = 10_000;
    Random random = new Random(11);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    Map<String, Long> expected = new TreeMap<>();
    for (int i = 0; i < events; i++) {
      String account = "a" + random.nextInt(20);
      int amount = 1 + random.nextInt(100);
      expected.merge(account, (long) amount, Long::sum);
      String value = account + ":" + amount;
      // Every event twice, on two different partitions: batches of both instances overlap.
      int p = random.nextInt(4);
      records.add(record(name, p, null, "o-" + i, value));
      records.add(record(name, (p + 1 + random.nextInt(3)) % 4, null, "o-" + i, value));
    }
    BatchHandler<String> sortedWrites =
        (batch, ctx) -> {
          Map<String, Long> perAccount = new TreeMap<>(); // row locks in account order
          try (PreparedStatement entry =
              ctx.connection()
                  .prepareStatement("INSERT INTO " + name + "_entries VALUES (?, ?, ?)")) {
            for (BatchEvent<String> e : batch) {
              String[] parts = e.payload().split(":");
              perAccount.merge(parts[0], Long.parseLong(parts[1]), Long::sum);
              entry.setString(1, e.eventId());
              entry.setString(2, parts[0]);
              entry.setInt(3, Integer.parseInt(parts[1]));
              entry.addBatch();
            }
            entry.executeBatch();
          }
          try (PreparedStatement update =
              ctx.connection()
                  .prepareStatement(
                      "UPDATE " + name + "_accounts SET balance = balance + ? WHERE account = ?")) {
            for (Map.Entry<String, Long> a : perAccount.entrySet()) {
              update.setLong(1, a.getValue());
              update.setString(2, a.getKey());
              update.executeUpdate();
            }
          }
        };
    IdemConfig config = config(name, name).concurrency(2).batchSize(20).build();
    IdempotentConsumer<String> a = batchConsumer(config, closeLater(pool(4)), sortedWrites);
    IdempotentConsumer<String> b = batchConsumer(config, closeLater(pool(4)), sortedWrites);
    // Both instances own partitions before the records arrive, so their batches overlap.
    awaitTrue(
        Duration.ofSeconds(60),
        "both assigned",
        () ->
            !a.snapshot().assigned().isEmpty()
                && !b.snapshot().assigned().isEmpty()
                && a.snapshot().assigned().size() + b.snapshot().assigned().size() == 4);
    send(records);
    awaitTrue(
        Duration.ofSeconds(180),
        "every event applied",
        () -> {
          try {
            return count("SELECT count(DISTINCT event_id) FROM " + name + "_entries") == events;
          } catch (SQLException e) {
            return false;
          }
        });
    awaitTrue(
        Duration.ofSeconds(60),
        "every copy handled",
        () ->
            a.snapshot().processed()
                    + a.snapshot().duplicates()
                    + b.snapshot().processed()
                    + b.snapshot().duplicates()
                >= 2L * events);
    assertThat(a.snapshot().failures() + b.snapshot().failures()).as("no deadlock").isZero();
    assertThat(a.snapshot().processed()).as("both instances worked").isPositive();
    assertThat(b.snapshot().processed()).isPositive();
    assertThat(count("SELECT count(*) FROM " + name + "_entries")).isEqualTo(events);
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT account, balance FROM " + name + "_accounts")) {
      Map<String, Long> actual = new TreeMap<>();
      while (rs.next()) {
        if (rs.getLong(2) != 0) {
          actual.put(rs.getString(1), rs.getLong(2));
        }
      }
      assertThat(actual).isEqualTo(expected);
    }
  }

  @Test
  void aPoisonRecordInABatchOf500IsDeadLetteredAndTheOther499Commit() throws Exception {
    String name = TestInfrastructure.uniqueName("batchpoison");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      records.add(record(name, 0, "k" + i, "bp-" + i, i == 250 ? "poison" : "ok"));
    }
    send(records);
    AtomicInteger batchCalls = new AtomicInteger();
    IdempotentConsumer<String> consumer =
        batchConsumer(
            config(name, name)
                .batchSize(500)
                .retry(RetryPolicy.fixed(2, Duration.ofMillis(20)))
                .kafka("max.poll.records", 500)
                .build(),
            closeLater(pool(3)),
            (batch, ctx) -> {
              batchCalls.incrementAndGet();
              for (BatchEvent<String> e : batch) {
                if (e.payload().equals("poison")) {
                  throw new IllegalArgumentException("cannot apply " + e.eventId());
                }
                try (PreparedStatement ps =
                    ctx.connection()
                        .prepareStatement("INSERT INTO " + effects + " (event_id) VALUES (?)")) {
                  ps.setString(1, e.eventId());
                  ps.executeUpdate();
                }
              }
            });
    awaitTrue(
        Duration.ofSeconds(60),
        "handled",
        () -> consumer.snapshot().processed() == 499 && consumer.snapshot().deadLettered() == 1);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(499);
    assertThat(strings("SELECT event_id FROM idem.dead_letters WHERE consumer_name = ?", name))
        .containsExactly("bp-250");
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'bp-250'")).isZero();
  }

  @Test
  void batchesKeepEachOrderingKeysSequenceIncreasing() throws Exception {
    String name = TestInfrastructure.uniqueName("batchorder");
    INFRA.createTopics(4, name);
    String table = name + "_seq";
    ParallelDispatchTest.createSequenceTable(table);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int seq = 0; seq < 40; seq++) {
      for (int k = 0; k < 10; k++) {
        records.add(
            record(name, null, "acct-" + k, "bo-" + k + "-" + seq, "acct-" + k + ":" + seq));
      }
    }
    send(records);
    IdempotentConsumer<String> consumer =
        batchConsumer(
            config(name, name).concurrency(4).batchSize(25).build(),
            closeLater(pool(6)),
            (batch, ctx) -> {
              try (PreparedStatement ps =
                  ctx.connection()
                      .prepareStatement(
                          "INSERT INTO "
                              + table
                              + " (event_id, k, seq, partition) VALUES (?, ?, ?, ?)")) {
                for (BatchEvent<String> e : batch) {
                  String[] parts = e.payload().split(":");
                  ps.setString(1, e.eventId());
                  ps.setString(2, parts[0]);
                  ps.setInt(3, Integer.parseInt(parts[1]));
                  ps.setInt(4, e.partition());
                  ps.addBatch();
                }
                ps.executeBatch();
              }
            });
    awaitTrue(
        Duration.ofSeconds(60), "all processed", () -> consumer.snapshot().processed() == 400);
    assertThat(ParallelDispatchTest.assertStrictlyIncreasingPerKey(table)).isEqualTo(400);
  }

  @Test
  void aBatchLargerThanTheLockCapIsSplitAndNeverExhaustsTheLockTable() throws Exception {
    // A server whose shared lock table is small: 16 x (20 + 0) slots.
    try (EmbeddedPostgresServer small =
            EmbeddedPostgresServer.launch(
                Map.of("max_connections", "20", "max_locks_per_transaction", "16"));
        HikariDataSource pool = pool(small, 4, "lockcap")) {
      // Without a cap, one transaction locking 2,000 ids fails for every session of the server.
      try (Connection c = small.dataSource().getConnection()) {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
          assertThatThrownBy(
                  () ->
                      s.execute(
                          "SELECT count(pg_advisory_xact_lock(g)) FROM generate_series(1, 2000) g"))
              .isInstanceOf(SQLException.class)
              .hasMessageContaining("out of shared memory");
        }
        c.rollback();
      }
      String name = TestInfrastructure.uniqueName("lockcap");
      INFRA.createTopics(1, name);
      List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
      for (int i = 0; i < 2000; i++) {
        records.add(record(name, 0, null, "cap-" + i, "v"));
      }
      send(records);
      AtomicInteger maxLocksSeen = new AtomicInteger();
      AtomicInteger maxChunk = new AtomicInteger();
      IdempotentConsumer<String> consumer =
          batchConsumer(
              config(name, name)
                  .batchSize(2000)
                  .batchMaxLocks(100)
                  .kafka("max.poll.records", 2000)
                  .maxInFlight(2000)
                  .build(),
              pool,
              (batch, ctx) -> {
                maxChunk.accumulateAndGet(batch.size(), Math::max);
                try (Statement s = ctx.connection().createStatement();
                    ResultSet rs =
                        s.executeQuery(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                + " AND pid = pg_backend_pid()")) {
                  rs.next();
                  maxLocksSeen.accumulateAndGet(rs.getInt(1), Math::max);
                }
              });
      awaitTrue(
          Duration.ofSeconds(120), "all processed", () -> consumer.snapshot().processed() == 2000);
      assertThat(consumer.snapshot().failures()).isZero();
      assertThat(maxLocksSeen.get()).isBetween(1, 100);
      assertThat(maxChunk.get()).as("batches were cut at the cap").isEqualTo(100);
      consumer.close();
    }
  }
}
