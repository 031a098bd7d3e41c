package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.lock.LockKey;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ExactlyOnceProcessingTest {
  @RegisterExtension final Closer closer = new Closer();

  private <C extends AutoCloseable> C closeLater(C closeable) {
    return closer.add(closeable);
  }

  private IdempotentConsumer<String> consumer(
      IdemConfig config, HikariDataSource pool, EventHandler<String> handler) {
    return closeLater(consumerBuilder(config, Payloads.utf8(), pool).handler(handler).build());
  }

  @Test
  void copiesAcrossPartitionsTopicsAndInstancesApplyOnce() throws Exception {
    String name = TestInfrastructure.uniqueName("copies");
    String topicA = name + "_a";
    String topicB = name + "_b";
    INFRA.createTopics(3, topicA, topicB);
    String effects = name + "_effects";
    createEffectsTable(effects);

    int events = 300;
    Random random = new Random(42);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < events; i++) {
      String id = "evt-" + i;
      // Three copies: two partitions of topic A (different ones), one partition of topic B.
      int p1 = random.nextInt(3);
      records.add(record(topicA, p1, "k" + i, id, "v" + i));
      records.add(record(topicA, (p1 + 1) % 3, "k" + i, id, "v" + i));
      records.add(record(topicB, random.nextInt(3), "k" + i, id, "v" + i));
    }
    Collections.shuffle(records, random);
    send(records);

    IdemConfig config = config(name, topicA, topicB).concurrency(4).build();
    EventHandler<String> handler =
        (value, ctx) -> {
          insertEffect(effects, value, ctx);
          Thread.sleep(1); // widen the window in which copies overlap
        };
    IdempotentConsumer<String> first = consumer(config, closeLater(pool(6)), handler);
    IdempotentConsumer<String> second = consumer(config, closeLater(pool(6)), handler);
    first.start();
    second.start();

    awaitTrue(
        Duration.ofSeconds(120),
        "all copies handled",
        () ->
            first.snapshot().processed()
                    + first.snapshot().duplicates()
                    + second.snapshot().processed()
                    + second.snapshot().duplicates()
                >= 3L * events);
    // Let any late redelivery after a rebalance drain as well.
    awaitTrue(
        Duration.ofSeconds(60),
        "offsets committed to the end",
        () -> fullyCommitted(name, Map.of(topicA, 3, topicB, 3)));

    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(events);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(events);
    long processed = first.snapshot().processed() + second.snapshot().processed();
    long duplicates = first.snapshot().duplicates() + second.snapshot().duplicates();
    assertThat(processed).isEqualTo(events);
    // A rebalance may redeliver a record that was done but not committed: it is then skipped
    // again, so duplicates can exceed 2 per event but the sum never falls short.
    assertThat(processed + duplicates).isGreaterThanOrEqualTo(3L * events);
    assertThat(count("SELECT count(*) FROM idem.processed_events WHERE consumer_name = ?", name))
        .isEqualTo(events);
  }

  private static boolean fullyCommitted(String group, Map<String, Integer> topics) {
    try {
      Map<TopicPartition, Long> committed = committedOffsets(group);
      for (Map.Entry<String, Integer> t : topics.entrySet()) {
        for (Map.Entry<TopicPartition, Long> end :
            endOffsets(t.getKey(), t.getValue()).entrySet()) {
          if (end.getValue() > 0 && !end.getValue().equals(committed.get(end.getKey()))) {
            return false;
          }
        }
      }
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  @Test
  void lockIsHeldWhileTheHandlerRunsAndReleasedAtCommit() throws Exception {
    String name = TestInfrastructure.uniqueName("lockheld");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    CountDownLatch inHandler = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    IdempotentConsumer<String> consumer =
        consumer(
            config(name, name).build(),
            closeLater(pool(3)),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              inHandler.countDown();
              release.await(60, TimeUnit.SECONDS);
            });
    consumer.start();
    send(List.of(record(name, 0, "k", "held-1", "v")));
    assertThat(inHandler.await(60, TimeUnit.SECONDS)).isTrue();

    long key = LockKey.hash(name, "held-1");
    assertThat(tryLock(key)).as("lock free while the handler runs").isFalse();
    release.countDown();
    awaitTrue(Duration.ofSeconds(30), "processed", () -> consumer.snapshot().processed() == 1);

    assertThat(advisoryLocksHeld(key)).isZero();
    assertThat(tryLock(key)).as("lock free after commit").isTrue();
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(1);
  }

  /**
   * A copy elsewhere holds the event's lock past the lock timeout: the attempt that waits for it
   * fails on {@code lock_timeout} (in grouped mode the group's one lock statement does), and
   * neither a mark nor an effect is left behind, so once the lock is free the event is applied
   * once. The lock, the check and the mark travel in one round trip: this shows that a failed lock
   * stops the mark behind it.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(ints = {1, 32})
  void anEventWhoseLockIsHeldPastTheLockTimeoutIsRetriedAndAppliedOnceWhenTheLockIsFree(
      int maxRecords) throws Exception {
    String name = TestInfrastructure.uniqueName("held-" + maxRecords);
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    try (Connection holder = INFRA.postgres().dataSource().getConnection()) {
      holder.setAutoCommit(false);
      try (PreparedStatement ps = holder.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
        ps.setLong(1, LockKey.hash(name, "busy"));
        ps.execute();
      }
      IdempotentConsumer<String> consumer =
          consumer(
              config(name, name)
                  .lockTimeout(Duration.ofMillis(200))
                  .retry(RetryPolicy.fixed(100, Duration.ofMillis(50)))
                  .transactionMaxRecords(maxRecords)
                  .build(),
              closeLater(pool(3)),
              (value, ctx) -> insertEffect(effects, value, ctx));
      consumer.start();
      send(
          List.of(
              record(name, 0, "k1", "before", "v0"),
              record(name, 0, "k2", "busy", "v1"),
              record(name, 0, "k3", "after", "v2")));
      awaitTrue(
          Duration.ofSeconds(60),
          "attempts failed on the held lock",
          () -> consumer.snapshot().failures() >= 2);
      assertThat(
              count(
                  "SELECT count(*) FROM idem.processed_events"
                      + " WHERE consumer_name = ? AND event_id = 'busy'",
                  name))
          .as("no mark while the lock is held")
          .isZero();
      assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'busy'")).isZero();
      holder.rollback();

      awaitTrue(
          Duration.ofSeconds(60),
          "offsets committed past every record",
          () -> {
            try {
              return Long.valueOf(3)
                  .equals(committedOffsets(name).get(new TopicPartition(name, 0)));
            } catch (Exception e) {
              return false;
            }
          });
      for (String id : List.of("before", "busy", "after")) {
        assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = ?", id))
            .as(id + " applied once")
            .isEqualTo(1);
      }
      assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
          .isZero();
    }
  }

  private static boolean tryLock(long key) throws Exception {
    try (Connection c = INFRA.postgres().dataSource().getConnection()) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("SELECT pg_try_advisory_xact_lock(?)")) {
        ps.setLong(1, key);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          return rs.getBoolean(1);
        }
      } finally {
        c.rollback();
      }
    }
  }

  /** Advisory locks on a bigint key appear in pg_locks as (classid, objid) = (high, low) words. */
  static long advisoryLocksHeld(long key) throws Exception {
    return count(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            + " AND classid::bigint = ? AND objid::bigint = ?",
        key >>> 32,
        key & 0xFFFFFFFFL);
  }

  @Test
  void failingHandlerRollsBackItsWritesAndIsRetriedUntilItApplies() throws Exception {
    String name = TestInfrastructure.uniqueName("retry");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    List<Integer> attempts = Collections.synchronizedList(new ArrayList<>());
    IdempotentConsumer<String> consumer =
        consumer(
            config(name, name).build(),
            closeLater(pool(3)),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              attempts.add(ctx.attempt());
              if (calls.computeIfAbsent(ctx.eventId(), k -> new AtomicInteger()).incrementAndGet()
                  <= 2) {
                throw new IllegalStateException("transient trouble");
              }
            });
    consumer.start();
    send(List.of(record(name, 0, "k", "flaky-1", "v"), record(name, 0, "k", "steady-2", "w")));

    awaitTrue(Duration.ofSeconds(60), "both processed", () -> consumer.snapshot().processed() == 2);
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'flaky-1'"))
        .isEqualTo(1);
    assertThat(count("SELECT max(attempt) FROM " + effects + " WHERE event_id = 'flaky-1'"))
        .isEqualTo(3);
    assertThat(consumer.snapshot().retries()).isEqualTo(4); // 2 per event: both ids failed twice
    assertThat(attempts).containsExactly(1, 2, 3, 1, 2, 3);
  }

  @Test
  void crashAfterDatabaseCommitRedeliversRecordsThatAreSkippedAsDuplicates() throws Exception {
    String name = TestInfrastructure.uniqueName("crash");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    int events = 60;
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < events; i++) {
      records.add(record(name, i % 2, "k" + i, "e-" + i, "v" + i));
    }
    send(records);

    AtomicInteger commits = new AtomicInteger();
    FaultHook crashAfter20 =
        new FaultHook() {
          @Override
          public void afterDatabaseCommit(ConsumerRecord<byte[], byte[]> record) {
            if (commits.incrementAndGet() == 20) {
              throw new SimulatedCrash("halt after the 20th database commit");
            }
          }
        };
    // No offset is committed before the crash: the interval is longer than the test.
    IdemConfig crashing = config(name, name).commitInterval(Duration.ofHours(1)).build();
    IdempotentConsumer<String> first =
        closeLater(
            consumerBuilder(crashing, Payloads.utf8(), closeLater(pool(3)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .faultHook(crashAfter20)
                .build());
    first.start();
    awaitTrue(
        Duration.ofSeconds(60), "crashed", () -> first.snapshot().state() == ConsumerState.FAILED);
    first.close();
    long doneBeforeCrash =
        count("SELECT count(*) FROM idem.processed_events WHERE consumer_name = ?", name);
    assertThat(doneBeforeCrash).isGreaterThanOrEqualTo(20);
    assertThat(committedOffsets(name)).isEmpty();

    IdempotentConsumer<String> second =
        consumer(
            config(name, name).build(),
            closeLater(pool(3)),
            (value, ctx) -> insertEffect(effects, value, ctx));
    second.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "rest processed",
        () -> second.snapshot().processed() + second.snapshot().duplicates() == events);

    assertThat(second.snapshot().duplicates()).isEqualTo(doneBeforeCrash);
    assertThat(second.snapshot().processed()).isEqualTo(events - doneBeforeCrash);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(events);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(events);
    awaitTrue(
        Duration.ofSeconds(30),
        "committed to the end",
        () -> fullyCommitted(name, Map.of(name, 2)));
  }

  @Test
  void collidingLockKeysSerializeButNeverSkipAnEvent() throws Exception {
    String name = TestInfrastructure.uniqueName("collide");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      records.add(record(name, i % 2, "k" + i, "c-" + i, "v" + i));
    }
    send(records);
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(
                    config(name, name).concurrency(4).build(), Payloads.utf8(), closeLater(pool(6)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .lockKeyFunction((namespace, eventId) -> 42L) // every id collides
                .build());
    consumer.start();
    awaitTrue(Duration.ofSeconds(60), "all processed", () -> consumer.snapshot().processed() == 20);
    assertThat(consumer.snapshot().duplicates()).isZero();
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(20);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(20);
  }

  @Test
  void recordsWithoutAUsableEventIdAreDeadLetteredAndTheConsumerGoesOn() throws Exception {
    String name = TestInfrastructure.uniqueName("badid");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    send(
        List.of(
            record(name, 0, "k", null, "no id"),
            record(name, 0, "k", "x".repeat(600), "long id"),
            record(name, 0, "k", "nul\0id", "nul id"),
            record(name, 0, "k", "good-1", "fine")));
    IdempotentConsumer<String> consumer =
        consumer(
            config(name, name).build(),
            closeLater(pool(3)),
            (value, ctx) -> insertEffect(effects, value, ctx));
    consumer.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "all handled",
        () -> consumer.snapshot().processed() == 1 && consumer.snapshot().deadLettered() == 3);
    assertThat(strings("SELECT event_id FROM " + effects)).containsExactly("good-1");
    assertThat(
            strings(
                "SELECT exception_message FROM idem.dead_letters"
                    + " WHERE consumer_name = ? AND NOT has_event_id",
                name))
        .containsExactlyInAnyOrder(
            "event id missing",
            "event id longer than 512 bytes of UTF-8 (600)",
            "event id contains NUL");
    assertThat(
            strings(
                "SELECT coalesce(event_id, topic || '-' || kafka_partition || '@' || kafka_offset)"
                    + " FROM idem.dead_letters WHERE consumer_name = ?",
                name))
        .containsExactlyInAnyOrder(name + "-0@0", name + "-0@1", name + "-0@2");
    assertThat(consumer.snapshot().state()).isEqualTo(ConsumerState.RUNNING);
  }
}
