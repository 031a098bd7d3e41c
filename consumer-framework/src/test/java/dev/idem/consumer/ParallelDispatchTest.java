package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ParallelDispatchTest {
  @RegisterExtension final Closer closer = new Closer();

  private <C extends AutoCloseable> C closeLater(C closeable) {
    return closer.add(closeable);
  }

  /** Per-key sequence rows: (ordering key, sequence, partition) in the order handlers ran. */
  static void createSequenceTable(String table) throws Exception {
    sql(
        "CREATE TABLE "
            + table
            + " (id bigserial PRIMARY KEY, event_id text NOT NULL,"
            + " k text NOT NULL, seq int NOT NULL, partition int NOT NULL)");
  }

  static void insertSequence(String table, String value, ProcessingContext ctx) throws Exception {
    String[] parts = value.split(":"); // key:seq
    try (PreparedStatement ps =
        ctx.connection()
            .prepareStatement(
                "INSERT INTO " + table + " (event_id, k, seq, partition) VALUES (?, ?, ?, ?)")) {
      ps.setString(1, ctx.eventId());
      ps.setString(2, parts[0]);
      ps.setInt(3, Integer.parseInt(parts[1]));
      ps.setInt(4, ctx.partition());
      ps.executeUpdate();
    }
  }

  /** Checks every (partition, key) saw strictly increasing sequence numbers; returns rows. */
  static long assertStrictlyIncreasingPerKey(String table) throws Exception {
    Map<String, Integer> last = new HashMap<>();
    long rows = 0;
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT partition, k, seq FROM " + table + " ORDER BY id")) {
      while (rs.next()) {
        rows++;
        String lane = rs.getInt(1) + "/" + rs.getString(2);
        int seq = rs.getInt(3);
        Integer previous = last.put(lane, seq);
        assertThat(previous == null || previous < seq)
            .as("sequence of %s went from %s to %s", lane, previous, seq)
            .isTrue();
      }
    }
    return rows;
  }

  @Test
  void recordsOfOneOrderingKeyRunInOffsetOrderWhileKeysRunConcurrently() throws Exception {
    String name = TestInfrastructure.uniqueName("order");
    INFRA.createTopics(4, name);
    String table = name + "_seq";
    createSequenceTable(table);
    int keys = 16;
    int perKey = 25;
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int seq = 0; seq < perKey; seq++) {
      for (int k = 0; k < keys; k++) {
        records.add(
            record(name, null, "acct-" + k, "acct-" + k + "-" + seq, "acct-" + k + ":" + seq));
      }
    }
    send(records);
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(
                    config(name, name).concurrency(8).build(),
                    Payloads.utf8(),
                    closeLater(pool(10)))
                .handler(
                    (value, ctx) -> {
                      insertSequence(table, value, ctx);
                      Thread.sleep(ctx.offset() % 3); // uneven handler times shuffle completions
                    })
                .build());
    consumer.start();
    awaitTrue(
        Duration.ofSeconds(120),
        "all processed",
        () -> consumer.snapshot().processed() == (long) keys * perKey);
    assertThat(assertStrictlyIncreasingPerKey(table)).isEqualTo((long) keys * perKey);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + table)).isEqualTo(keys * perKey);
  }

  @Test
  void anOrderingKeyFunctionReturningByteArraysOrdersByTheirContent() throws Exception {
    // OrderingKeys.of(ConsumerRecord::key) returns byte[], which equals only itself: every record
    // had a lane of its own and one key's records ran concurrently.
    String name = TestInfrastructure.uniqueName("bytekeys");
    INFRA.createTopics(1, name);
    String table = name + "_seq";
    createSequenceTable(table);
    int keys = 2;
    int perKey = 30;
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int seq = 0; seq < perKey; seq++) {
      for (int k = 0; k < keys; k++) {
        records.add(record(name, 0, "acct-" + k, "bk-" + k + "-" + seq, "acct-" + k + ":" + seq));
      }
    }
    send(records);
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(
                    config(name, name).concurrency(6).build(), Payloads.utf8(), closeLater(pool(8)))
                .orderingKey(OrderingKeys.of(ConsumerRecord::key))
                .handler(
                    (value, ctx) -> {
                      Thread.sleep(5 - ctx.offset() % 5); // later records finish sooner
                      insertSequence(table, value, ctx);
                    })
                .build());
    consumer.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "all processed",
        () -> consumer.snapshot().processed() == (long) keys * perKey);
    assertThat(assertStrictlyIncreasingPerKey(table)).isEqualTo((long) keys * perKey);
  }

  @Test
  void differentKeysOfOnePartitionRunInParallel() throws Exception {
    String name = TestInfrastructure.uniqueName("parallel");
    INFRA.createTopics(1, name);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      records.add(record(name, 0, "key-" + (i % 8), "p-" + i, "v"));
    }
    send(records);
    AtomicLong handlerNanos = new AtomicLong();
    AtomicLong firstStart = new AtomicLong(Long.MAX_VALUE);
    AtomicLong lastEnd = new AtomicLong();
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(
                    config(name, name).concurrency(8).build(),
                    Payloads.utf8(),
                    closeLater(pool(10)))
                .handler(
                    (value, ctx) -> {
                      long start = System.nanoTime();
                      firstStart.accumulateAndGet(start, Math::min);
                      Thread.sleep(50);
                      long end = System.nanoTime();
                      handlerNanos.addAndGet(end - start);
                      lastEnd.accumulateAndGet(end, Math::max);
                    })
                .build());
    consumer.start();
    awaitTrue(Duration.ofSeconds(60), "all processed", () -> consumer.snapshot().processed() == 16);
    long wall = lastEnd.get() - firstStart.get();
    // 16 handlers of 50 ms: serially at least 800 ms. Eight keys at once take about a quarter of
    // that plus transaction overhead; half leaves room for a busy 2-core machine.
    assertThat(wall).isLessThan(handlerNanos.get() / 2);
  }

  @Test
  void aSlowRecordHoldsBackOnlyItsPartitionAndARestartResumesFromTheWatermark() throws Exception {
    String name = TestInfrastructure.uniqueName("watermark");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    records.add(record(name, 0, "slow", "slow-0", "slow"));
    for (int i = 1; i < 10; i++) {
      records.add(record(name, 0, "fast-" + i, "p0-" + i, "fast"));
      records.add(record(name, 1, "fast-" + i, "p1-" + i, "fast"));
    }
    records.add(record(name, 1, "fast-0", "p1-0", "fast"));
    send(records);
    CountDownLatch release = new CountDownLatch(1);
    IdempotentConsumer<String> first =
        closeLater(
            consumerBuilder(
                    config(name, name).concurrency(4).build(), Payloads.utf8(), closeLater(pool(6)))
                .handler(
                    (value, ctx) -> {
                      if (value.equals("slow")) {
                        release.await(60, TimeUnit.SECONDS);
                      }
                      insertEffect(effects, value, ctx);
                    })
                .build());
    first.start();
    TopicPartition p0 = new TopicPartition(name, 0);
    TopicPartition p1 = new TopicPartition(name, 1);
    awaitTrue(
        Duration.ofSeconds(60),
        "fast ones done and p1 committed",
        () ->
            first.snapshot().processed() == 19
                && Long.valueOf(10).equals(first.snapshot().committed().get(p1)));
    assertThat(committedOffsets(name)).containsEntry(p1, 10L).doesNotContainKey(p0);
    assertThat(first.snapshot().inFlight()).isEqualTo(1);

    first.crash(); // dies while the slow record is still in its transaction
    awaitTrue(
        Duration.ofSeconds(30), "stopped", () -> first.snapshot().state() == ConsumerState.FAILED);
    first.close(); // interrupts the blocked handler: its transaction rolls back
    release.countDown();
    assertThat(committedOffsets(name)).containsEntry(p1, 10L).doesNotContainKey(p0);

    IdempotentConsumer<String> second =
        closeLater(
            consumerBuilder(
                    config(name, name).concurrency(4).build(), Payloads.utf8(), closeLater(pool(6)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .build());
    second.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "partition 0 redelivered",
        () -> second.snapshot().processed() + second.snapshot().duplicates() == 10);
    assertThat(second.snapshot().processed()).isEqualTo(1); // the slow one
    assertThat(second.snapshot().duplicates()).isEqualTo(9); // done before the crash
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(20);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(20);
  }

  @Test
  void inFlightNeverExceedsTheBoundAndPartitionsPauseUntilItDrains() throws Exception {
    String name = TestInfrastructure.uniqueName("backpressure");
    INFRA.createTopics(2, name);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      records.add(record(name, i % 2, "k" + i, "b-" + i, "v"));
    }
    send(records);
    CountDownLatch release = new CountDownLatch(1);
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(
                    config(name, name)
                        .concurrency(2)
                        .maxInFlight(20)
                        .kafka("max.poll.records", 10)
                        .build(),
                    Payloads.utf8(),
                    closeLater(pool(4)))
                .handler((value, ctx) -> release.await(60, TimeUnit.SECONDS))
                .build());
    consumer.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "paused with a full buffer",
        () -> consumer.snapshot().paused().size() == 2 && consumer.snapshot().inFlight() > 10);
    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1500);
    int maxSeen = 0;
    while (System.nanoTime() < until) {
      ConsumerSnapshot s = consumer.snapshot();
      maxSeen = Math.max(maxSeen, s.inFlight());
      assertThat(s.inFlight()).isLessThanOrEqualTo(20);
      Thread.sleep(10);
    }
    assertThat(maxSeen).isBetween(11, 20);
    assertThat(consumer.snapshot().processed()).isZero();

    release.countDown();
    awaitTrue(
        Duration.ofSeconds(60), "all processed", () -> consumer.snapshot().processed() == 100);
    awaitTrue(Duration.ofSeconds(10), "resumed", () -> consumer.snapshot().paused().isEmpty());
  }

  @Test
  void aHandlerLongerThanMaxPollIntervalDoesNotCauseARebalance() throws Exception {
    String name = TestInfrastructure.uniqueName("longhandler");
    INFRA.createTopics(1, name);
    send(List.of(record(name, 0, "k", "long-1", "v"), record(name, 0, "k", "long-2", "v")));
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(
                    config(name, name)
                        .kafka("max.poll.interval.ms", 3000)
                        .drainTimeout(Duration.ofSeconds(2))
                        .build(),
                    Payloads.utf8(),
                    closeLater(pool(3)))
                .handler(
                    (value, ctx) -> {
                      if (ctx.eventId().equals("long-1")) {
                        Thread.sleep(7000);
                      }
                    })
                .build());
    consumer.start();
    awaitTrue(Duration.ofSeconds(60), "both processed", () -> consumer.snapshot().processed() == 2);
    assertThat(consumer.snapshot().rebalances()).isEqualTo(1);
    assertThat(consumer.snapshot().duplicates()).isZero();
    awaitTrue(
        Duration.ofSeconds(10),
        "committed",
        () ->
            Long.valueOf(2)
                .equals(consumer.snapshot().committed().get(new TopicPartition(name, 0))));
  }
}
