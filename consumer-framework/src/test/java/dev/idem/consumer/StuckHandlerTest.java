package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Handlers that block outside JDBC (a sleep, a latch, a hung HTTP call): the database side is
 * bounded by the transaction's timeouts, the worker thread is not, so the watchdog abandons it.
 * Short timeouts keep these tests fast: an attempt is abandoned about lock + handler timeout + 1 s
 * after its transaction began.
 */
class StuckHandlerTest {
  private static final Duration LOCK_TIMEOUT = Duration.ofMillis(200);
  private static final Duration HANDLER_TIMEOUT = Duration.ofSeconds(1);

  @RegisterExtension final Closer closer = new Closer();

  private IdemConfig.Builder shortTimeouts(String name) {
    return config(name, name)
        .concurrency(1)
        .lockTimeout(LOCK_TIMEOUT)
        .handlerTimeout(HANDLER_TIMEOUT)
        .retry(RetryPolicy.fixed(2, Duration.ofMillis(100)));
  }

  private IdempotentConsumer<String> start(
      IdemConfig config,
      HikariDataSource pool,
      EventHandler<String> handler,
      MeterRegistry meters) {
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), pool)
                .handler(handler)
                .meterRegistry(meters)
                .build());
    consumer.start();
    return consumer;
  }

  @Test
  void aHandlerHungOutsideJdbcIsAbandonedSoLaterRecordsGoOnAndItIsDeadLetteredAfterItsAttempts()
      throws Exception {
    String name = TestInfrastructure.uniqueName("hung");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<Integer> hungAttempts = new CopyOnWriteArrayList<>();
    MeterRegistry meters = new SimpleMeterRegistry();
    IdempotentConsumer<String> consumer =
        start(
            shortTimeouts(name).build(),
            closer.add(pool(3)),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (ctx.eventId().equals("hung-1")) {
                hungAttempts.add(ctx.attempt());
                new CountDownLatch(1).await(); // blocks until interrupted: forever, unwatched
              }
            },
            meters);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    records.add(record(name, 0, "k-hung", "hung-1", "stuck"));
    for (int i = 1; i <= 5; i++) {
      records.add(record(name, 0, "k-" + i, "ok-" + i, "v" + i));
    }
    send(records);

    awaitTrue(Duration.ofSeconds(30), "the hung handler entered", () -> !hungAttempts.isEmpty());
    // Concurrency 1: the records behind the hung one run only once its worker is abandoned.
    awaitTrue(
        Duration.ofSeconds(10),
        "the five records after the hung one applied",
        () -> rows("SELECT count(*) FROM " + effects + " WHERE event_id LIKE 'ok-%'") == 5);
    awaitTrue(
        Duration.ofSeconds(15),
        "the hung record dead-lettered",
        () -> rows(DEAD_LETTERS + " AND event_id = 'hung-1'", name) == 1);
    awaitTrue(
        Duration.ofSeconds(10),
        "offset committed past every record",
        () -> committedOffset(name) == 6);

    assertThat(hungAttempts).containsExactly(1, 2);
    assertThat(strings("SELECT event_id FROM " + effects))
        .containsExactlyInAnyOrder("ok-1", "ok-2", "ok-3", "ok-4", "ok-5");
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(5);
    assertThat(strings(PROCESSED_IDS, name))
        .containsExactlyInAnyOrder("ok-1", "ok-2", "ok-3", "ok-4", "ok-5");
    assertThat(
            strings(
                "SELECT attempts || ' ' || reason || ' ' || has_event_id || ' ' || exception_class"
                    + " FROM idem.dead_letters WHERE consumer_name = ?",
                name))
        .containsExactly(
            "2 handler-timeout true dev.idem.consumer.internal.dispatch.HungAttemptException");
    assertThat(counter(meters, "idem.workers.abandoned", name)).isEqualTo(2.0);
    assertThat(counter(meters, "idem.records.failures", name)).isEqualTo(2.0);
    assertThat(counter(meters, "idem.records.dead.lettered", name)).isEqualTo(1.0);
  }

  @Test
  void pastTheCapOfAbandonedWorkersTheConsumerIsUnhealthyUntilTheStuckThreadsEnd()
      throws Exception {
    String name = TestInfrastructure.uniqueName("stuckcap");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    CountDownLatch release = new CountDownLatch(1);
    Set<String> entered = ConcurrentHashMap.newKeySet();
    MeterRegistry meters = new SimpleMeterRegistry();
    // concurrency 1, so by default at most one abandoned worker may still be alive
    IdempotentConsumer<String> consumer =
        start(
            shortTimeouts(name).retry(RetryPolicy.fixed(3, Duration.ofMillis(100))).build(),
            closer.add(pool(3)),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (!ctx.eventId().equals("c-1") && ctx.attempt() == 1) {
                entered.add(ctx.eventId());
                awaitIgnoringInterrupts(release);
              }
            },
            meters);
    closer.add(release::countDown); // closed before the consumer: never leave a thread stuck
    send(
        List.of(
            record(name, 0, "a", "a-1", "va"),
            record(name, 0, "b", "b-1", "vb"),
            record(name, 0, "c", "c-1", "vc")));

    awaitTrue(
        Duration.ofSeconds(30),
        "a-1 abandoned and b-1 running on a replacement worker",
        () -> entered.contains("b-1"));
    ConsumerHealth oneAbandoned = consumer.health();
    assertThat(oneAbandoned.healthy()).as("one abandoned worker, within the cap").isTrue();
    assertThat(oneAbandoned.stuckWorkers()).isEqualTo(1);
    assertThat(oneAbandoned.maxAbandonedWorkers()).isEqualTo(1);
    awaitTrue(
        Duration.ofSeconds(10),
        "unhealthy once b-1 hangs too and the cap forbids abandoning it",
        () -> !consumer.health().healthy());
    assertThat(consumer.health().stuckWorkers()).isEqualTo(2);
    awaitTrue(
        Duration.ofSeconds(5),
        "the snapshot counts both",
        () -> consumer.snapshot().stuckWorkers() == 2);
    assertThat(meters.get("idem.workers.stuck").tags("consumer", name).gauge().value())
        .isEqualTo(2.0);
    assertThat(counter(meters, "idem.workers.abandoned", name)).isEqualTo(1.0);
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'c-1'"))
        .as("b-1 kept its slot")
        .isZero();

    release.countDown();
    awaitTrue(
        Duration.ofSeconds(10),
        "healthy again once the stuck threads end",
        () -> consumer.health().healthy() && consumer.health().stuckWorkers() == 0);
    awaitTrue(
        Duration.ofSeconds(10),
        "all three applied",
        () -> rows("SELECT count(*) FROM " + effects) == 3);
    awaitTrue(
        Duration.ofSeconds(10),
        "offset committed past every record",
        () -> committedOffset(name) == 3);
    assertThat(strings("SELECT event_id FROM " + effects))
        .containsExactlyInAnyOrder("a-1", "b-1", "c-1");
    assertThat(strings(PROCESSED_IDS, name)).containsExactlyInAnyOrder("a-1", "b-1", "c-1");
    awaitTrue(
        Duration.ofSeconds(5), "the snapshot too", () -> consumer.snapshot().stuckWorkers() == 0);
  }

  @Test
  void anAbandonedConnectionLeavesThePoolWhileItsThreadIsStillStuck() throws Exception {
    String name = TestInfrastructure.uniqueName("stuckconn");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    CountDownLatch release = new CountDownLatch(1);
    AtomicBoolean stuck = new AtomicBoolean();
    Map<String, Integer> backends = new ConcurrentHashMap<>();
    HikariDataSource pool = closer.add(pool(3));
    start(
        shortTimeouts(name).build(),
        pool,
        (value, ctx) -> {
          int pid = backendPid(ctx.connection());
          backends.put(ctx.eventId() + "#" + ctx.attempt(), pid);
          insertEffect(effects, value, ctx);
          if (ctx.eventId().equals("s-1") && ctx.attempt() == 1) {
            stuck.set(true);
            awaitIgnoringInterrupts(release);
            stuck.set(false);
          }
        },
        new SimpleMeterRegistry());
    closer.add(release::countDown);
    send(
        List.of(
            record(name, 0, "s", "s-1", "vs"),
            record(name, 0, "n1", "n-1", "v1"),
            record(name, 0, "n2", "n-2", "v2")));

    awaitTrue(
        Duration.ofSeconds(30),
        "the records after the stuck one applied",
        () -> rows("SELECT count(*) FROM " + effects + " WHERE event_id LIKE 'n-%'") == 2);
    assertThat(stuck).as("the handler is still stuck").isTrue();
    int stuckPid = backends.get("s-1#1");
    awaitTrue(
        Duration.ofSeconds(5),
        "no connection borrowed while nothing runs: the stuck one left the pool",
        () -> pool.getHikariPoolMXBean().getActiveConnections() == 0);
    assertThat(count("SELECT count(*) FROM pg_stat_activity WHERE pid = ?", stuckPid))
        .as("the stuck attempt's backend is gone")
        .isZero();
    assertThat(backends.get("n-1#1")).isNotEqualTo(stuckPid);
    assertThat(backends.get("n-2#1")).isNotEqualTo(stuckPid);
    assertThat(pool.getHikariPoolMXBean().getTotalConnections()).isLessThanOrEqualTo(3);

    release.countDown();
    awaitTrue(
        Duration.ofSeconds(10),
        "the stuck record applied on its retry",
        () -> rows("SELECT count(*) FROM " + effects + " WHERE event_id = 's-1'") == 1);
    awaitTrue(
        Duration.ofSeconds(10),
        "offset committed past every record",
        () -> committedOffset(name) == 3);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(3);
  }

  @Test
  void aHungBatchFallsBackToOneRecordAtATimeAndOnlyTheHungRecordIsDeadLettered() throws Exception {
    String name = TestInfrastructure.uniqueName("hungbatch");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<Integer> hungBatchSizes = new CopyOnWriteArrayList<>();
    MeterRegistry meters = new SimpleMeterRegistry();
    IdemConfig config =
        config(name, name)
            .lockTimeout(Duration.ofMillis(100))
            .handlerTimeout(Duration.ofMillis(500))
            .retry(RetryPolicy.fixed(1, Duration.ofMillis(50)))
            .build();
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(3)))
                .batchHandler(
                    (events, ctx) -> {
                      for (BatchEvent<String> e : events) {
                        if (e.eventId().equals("hung-b")) {
                          hungBatchSizes.add(events.size());
                          new CountDownLatch(1).await();
                        }
                        insertBatchEffect(effects, e, ctx.connection());
                      }
                    })
                .meterRegistry(meters)
                .build());
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      String id = i == 2 ? "hung-b" : "b-" + i;
      records.add(record(name, 0, "k" + i, id, "v" + i));
    }
    send(records); // before the start, so that a poll returns several in one batch
    consumer.start();

    awaitTrue(
        Duration.ofSeconds(30),
        "offset committed past every record",
        () -> committedOffset(name) == 5);

    // first in the batch its poll made (how many records a poll returns is up to the broker)
    assertThat(hungBatchSizes).as("in its batch, then alone").hasSize(2).endsWith(1);
    assertThat(strings("SELECT event_id FROM " + effects))
        .containsExactlyInAnyOrder("b-0", "b-1", "b-3", "b-4");
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(4);
    assertThat(strings("SELECT event_id FROM idem.dead_letters WHERE consumer_name = ?", name))
        .containsExactly("hung-b");
    assertThat(counter(meters, "idem.workers.abandoned", name)).isEqualTo(2.0);
  }

  private static void insertBatchEffect(String table, BatchEvent<String> e, Connection c)
      throws SQLException {
    try (var ps =
        c.prepareStatement(
            "INSERT INTO "
                + table
                + " (event_id, payload, partition, kafka_offset) VALUES (?, ?, ?, ?)")) {
      ps.setString(1, e.eventId());
      ps.setString(2, e.payload());
      ps.setInt(3, e.partition());
      ps.setLong(4, e.offset());
      ps.executeUpdate();
    }
  }

  private static void awaitIgnoringInterrupts(CountDownLatch latch) {
    while (latch.getCount() > 0) {
      try {
        latch.await();
      } catch (InterruptedException e) {
        // On purpose: a call that cannot be interrupted, such as a socket read without a timeout.
      }
    }
  }

  private static int backendPid(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static final String DEAD_LETTERS =
      "SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?";

  private static final String PROCESSED_IDS =
      "SELECT event_id FROM idem.processed_events WHERE consumer_name = ?";

  /** The group's committed offset of partition 0 of the topic named like it, or -1. */
  private static long committedOffset(String group) {
    try {
      return committedOffsets(group).getOrDefault(new TopicPartition(group, 0), -1L);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** {@link IdemTestSupport#count} for conditions, which cannot throw SQLException. */
  private static long rows(String query, Object... params) {
    try {
      return count(query, params);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private static double counter(MeterRegistry meters, String meter, String name) {
    var c = meters.find(meter).tags("consumer", name, "topic", name).counter();
    return c == null ? 0 : c.count();
  }
}
