package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.INFRA;
import static dev.idem.consumer.IdemTestSupport.awaitTrue;
import static dev.idem.consumer.IdemTestSupport.bootstrap;
import static dev.idem.consumer.IdemTestSupport.count;
import static dev.idem.consumer.IdemTestSupport.createEffectsTable;
import static dev.idem.consumer.IdemTestSupport.insertEffect;
import static dev.idem.consumer.IdemTestSupport.pool;
import static dev.idem.consumer.IdemTestSupport.record;
import static dev.idem.consumer.IdemTestSupport.send;
import static dev.idem.consumer.IdemTestSupport.shareConsumerBuilder;
import static dev.idem.consumer.IdemTestSupport.stays;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * Idempotent consumption from a share group on the real broker: several consumers on one partition,
 * a lock that expires under a slow handler, the delivery-count limit, and the settings that need an
 * order share groups do not give.
 */
class ShareGroupTest {

  static IdemConfig.Builder config(String name, String topic) {
    return IdemConfig.builder(name)
        .bootstrapServers(bootstrap())
        .topics(topic)
        .concurrency(2)
        .drainTimeout(Duration.ofSeconds(5))
        .retry(RetryPolicy.fixed(100, Duration.ofMillis(300)));
  }

  static void groupConfig(String group, Map<String, String> values) {
    TestInfrastructure.setGroupConfig(bootstrap(), group, values);
  }

  static long rows(String query, Object... params) {
    try {
      return count(query, params);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  static IdempotentShareConsumer<String> consumer(
      IdemConfig config, HikariDataSource pool, EventHandler<String> handler) {
    return shareConsumerBuilder(config, Payloads.utf8(), pool).handler(handler).build();
  }

  @Test
  void fourConsumersOnOnePartitionEachApplyAShareAndEveryEventOnce() throws Exception {
    String name = TestInfrastructure.uniqueName("share4");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    int unique = 200;
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < unique; i++) {
      records.add(record(name, 0, "k" + i, "e" + i, "v" + i));
      if (i % 4 == 0) {
        records.add(record(name, 0, "k" + i, "e" + i, "v" + i)); // a copy
      }
    }
    send(records);
    Map<Integer, AtomicInteger> applied = new ConcurrentHashMap<>();
    List<IdempotentShareConsumer<String>> consumers = new ArrayList<>();
    IdemConfig config = config(name, name).kafka("max.poll.records", "5").build();
    try (HikariDataSource pool = pool(16)) {
      try {
        for (int n = 0; n < 4; n++) {
          int instance = n;
          IdempotentShareConsumer<String> c =
              consumer(
                  config,
                  pool,
                  (value, ctx) -> {
                    insertEffect(effects, value, ctx);
                    applied.computeIfAbsent(instance, k -> new AtomicInteger()).incrementAndGet();
                    Thread.sleep(5);
                  });
          consumers.add(c);
          c.start();
        }
        awaitTrue(
            Duration.ofSeconds(60),
            "every event applied",
            () -> rows("SELECT count(DISTINCT event_id) FROM " + effects) == unique);
        stays(
            Duration.ofSeconds(2),
            "no event applied twice",
            () -> rows("SELECT count(*) FROM " + effects) == unique);
      } finally {
        consumers.forEach(IdempotentShareConsumer::close);
      }
    }
    for (int n = 0; n < 4; n++) {
      assertThat(applied.getOrDefault(n, new AtomicInteger()).get())
          .as("instance %d applied at least 10%% of the events (%s)", n, applied)
          .isGreaterThanOrEqualTo(unique / 10);
    }
  }

  @Test
  void inAGroupThatDoesNotRenewLocksARecordWhoseLockExpiresUnderASlowHandlerIsSkippedOnRedelivery()
      throws Exception {
    String name = TestInfrastructure.uniqueName("sharelock");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    // With renewals (the default) the slow handler keeps its record: ShareSlowHandlerTest.
    groupConfig(
        name,
        Map.of("share.record.lock.duration.ms", "2000", "share.renew.acknowledge.enable", "false"));
    AtomicInteger slowCalls = new AtomicInteger();
    AtomicBoolean slowOnce = new AtomicBoolean(true);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    IdemConfig config = config(name, name).kafka("max.poll.records", "1").build();
    EventHandler<String> handler =
        (value, ctx) -> {
          insertEffect(effects, value, ctx);
          if (ctx.eventId().equals("slow")) {
            slowCalls.incrementAndGet();
            if (slowOnce.getAndSet(false)) {
              Thread.sleep(4000); // twice the acquisition lock
            }
          }
        };
    try (HikariDataSource pool = pool(10);
        IdempotentShareConsumer<String> a =
            shareConsumerBuilder(config, Payloads.utf8(), pool)
                .meterRegistry(meters)
                .handler(handler)
                .build();
        IdempotentShareConsumer<String> b =
            shareConsumerBuilder(config, Payloads.utf8(), pool)
                .meterRegistry(meters)
                .handler(handler)
                .build()) {
      a.start();
      b.start();
      send(List.of(record(name, 0, "k", "slow", "s"), record(name, 0, "k", "after", "a")));
      awaitTrue(
          Duration.ofSeconds(30),
          "the slow event applied and redelivered",
          () ->
              rows("SELECT count(*) FROM " + effects + " WHERE event_id = 'slow'") == 1
                  && meters.find("idem.share.redelivered").counter() != null
                  && meters.find("idem.share.redelivered").counter().count() >= 1);
      stays(
          Duration.ofSeconds(3),
          "the redelivered copy applied nothing",
          () -> rows("SELECT count(*) FROM " + effects + " WHERE event_id = 'slow'") == 1);
      // The copy waited on the advisory lock, found the mark and was skipped without the handler.
      assertThat(slowCalls.get()).isEqualTo(1);
      assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'after'"))
          .isEqualTo(1);
      assertThat(a.acknowledgementsFailed() + b.acknowledgementsFailed()).isGreaterThanOrEqualTo(1);
    }
  }

  @Test
  void aRenewalTheBrokerRefusesEndsThatDeliveryAndTheLateAnswerIsDroppedNotTheLoop()
      throws Exception {
    String name = TestInfrastructure.uniqueName("sharerefused");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    groupConfig(name, Map.of("share.record.lock.duration.ms", "2000"));
    CountDownLatch slowStarted = new CountDownLatch(1);
    AtomicInteger slowCalls = new AtomicInteger();
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    IdemConfig config = config(name, name).build();
    try (HikariDataSource pool = pool(8);
        IdempotentShareConsumer<String> c =
            shareConsumerBuilder(config, Payloads.utf8(), pool)
                .meterRegistry(meters)
                .handler(
                    (value, ctx) -> {
                      insertEffect(effects, value, ctx);
                      if (ctx.eventId().equals("slow") && slowCalls.incrementAndGet() == 1) {
                        slowStarted.countDown();
                        Thread.sleep(5000);
                      }
                    })
                .build()) {
      c.start();
      send(List.of(record(name, 0, "k", "slow", "s")));
      assertThat(slowStarted.await(30, TimeUnit.SECONDS)).isTrue();
      // The group stops accepting renewals while the slow handler runs.
      groupConfig(name, Map.of("share.renew.acknowledge.enable", "false"));
      awaitTrue(
          Duration.ofSeconds(30),
          "a renewal refused and the late answer dropped",
          () ->
              counted(meters, "idem.share.renewals.refused") >= 1
                  && counted(meters, "idem.share.answers.late") >= 1);
      send(List.of(record(name, 0, "k", "after", "a")));
      awaitTrue(
          Duration.ofSeconds(30),
          "the loop went on",
          () -> rows("SELECT count(*) FROM " + effects + " WHERE event_id = 'after'") == 1);
      assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'slow'"))
          .isEqualTo(1);
      assertThat(slowCalls.get()).as("the copy found the mark").isEqualTo(1);
    }
  }

  static double counted(SimpleMeterRegistry meters, String name) {
    return meters.find(name).counters().stream().mapToDouble(Counter::count).sum();
  }

  @Test
  void aRecordThatKeepsFailingIsDeadLetteredOnItsLastDeliveryAndAPoisonOneAtOnce()
      throws Exception {
    String name = TestInfrastructure.uniqueName("sharelimit");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    groupConfig(
        name, Map.of("share.record.lock.duration.ms", "2000", "share.delivery.count.limit", "2"));
    AtomicInteger poisonCalls = new AtomicInteger();
    IdemConfig config = config(name, name).build();
    try (HikariDataSource pool = pool(6);
        IdempotentShareConsumer<String> c =
            consumer(
                config,
                pool,
                (value, ctx) -> {
                  if (ctx.eventId().equals("poison")) {
                    poisonCalls.incrementAndGet();
                    throw new IllegalStateException("a failure the policy retries");
                  }
                  insertEffect(effects, value, ctx);
                })) {
      c.start();
      send(
          List.of(
              record(name, 0, "k", "poison", "p"),
              record(name, 0, "k", null, "no event id"),
              record(name, 0, "k", "fine", "f")));
      awaitTrue(
          Duration.ofSeconds(30),
          "the poison record dead-lettered",
          () ->
              rows(
                      "SELECT count(*) FROM idem.dead_letters"
                          + " WHERE consumer_name = ? AND event_id = 'poison'",
                      name)
                  == 1);
      awaitTrue(
          Duration.ofSeconds(10),
          "the consumer went on",
          () -> rows("SELECT count(*) FROM " + effects + " WHERE event_id = 'fine'") == 1);
    }
    // Retried locally within each delivery's lock, then released once, then dead-lettered.
    assertThat(poisonCalls.get()).isGreaterThan(2);
    // The record without an event id was dead-lettered at once, once.
    assertThat(
            count(
                "SELECT count(*) FROM idem.dead_letters"
                    + " WHERE consumer_name = ? AND event_id IS NULL",
                name))
        .isEqualTo(1);
  }

  @Test
  void aShareConsumerRunsTheRetentionJobOnItsExpiredMarks() throws Exception {
    String name = TestInfrastructure.uniqueName("shareretention");
    INFRA.createTopics(1, name);
    try (HikariDataSource pool = pool(6);
        IdempotentShareConsumer<String> c =
            consumer(
                config(name, name).set("consumer.retention.interval", "1s").build(),
                pool,
                (value, ctx) -> {})) {
      c.start();
      String insert =
          "INSERT INTO idem.processed_events"
              + " (consumer_name, event_id, topic, kafka_partition, kafka_offset, processed_at)"
              + " SELECT '%s', '%s-' || g, 't', 0, g, now() - interval '%s'"
              + " FROM generate_series(1, %d) g";
      IdemTestSupport.sql(String.format(insert, name, "old", "16 days", 30));
      IdemTestSupport.sql(String.format(insert, name, "new", "1 day", 20));
      String marks =
          "SELECT count(*) FROM idem.processed_events WHERE consumer_name = ? AND event_id LIKE ?";
      awaitTrue(
          Duration.ofSeconds(20),
          "the marks older than the 15-day window deleted",
          () -> rows(marks, name, "old-%") == 0);
      assertThat(count(marks, name, "new-%")).isEqualTo(20);
    }
  }

  @Test
  void aShareConsumersHealthIsLiveBeforeStartReadyWhileRunningAndNotReadyAfterClose()
      throws Exception {
    String name = TestInfrastructure.uniqueName("sharehealth");
    INFRA.createTopics(1, name);
    try (HikariDataSource pool = pool(4)) {
      IdempotentShareConsumer<String> c = consumer(config(name, name).build(), pool, (v, x) -> {});
      ConsumerHealth before = c.health();
      assertThat(before.state()).isEqualTo(ConsumerState.CREATED);
      assertThat(before.ready()).isFalse();
      assertThat(before.live()).isTrue();
      c.start();
      awaitTrue(Duration.ofSeconds(20), "ready", () -> c.health().ready());
      assertThat(c.health().databaseReachable()).isTrue();
      assertThat(c.health().brokerReachable()).isTrue();
      c.close();
      ConsumerHealth after = c.health();
      assertThat(after.state()).isEqualTo(ConsumerState.CLOSED);
      assertThat(after.ready()).isFalse();
      assertThat(after.live()).isTrue();
      assertThatThrownBy(c::start).isInstanceOf(IllegalStateException.class);
    }
  }

  @Test
  void settingsThatNeedAnOrderAreRefusedByName() {
    String name = TestInfrastructure.uniqueName("shareref");
    assertThatThrownBy(
            () ->
                consumer(
                    config(name, name).offsetStore(OffsetStore.POSTGRESQL).build(),
                    null,
                    (v, c) -> {}))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("consumer.offset-store");
    assertThatThrownBy(
            () ->
                consumer(
                    config(name, name).deadLetterMode(DeadLetterMode.PARK_KEY).build(),
                    null,
                    (v, c) -> {}))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("consumer.dead-letter.on-failure");
  }

  @Test
  void groupedAndBatchTransactionsOverAPollApplyEveryEventOnceAndIsolateAFailure()
      throws Exception {
    for (String mode : List.of("grouped", "batch")) {
      String name = TestInfrastructure.uniqueName("share" + mode);
      INFRA.createTopics(1, name);
      String effects = name + "_effects";
      createEffectsTable(effects);
      int unique = 60;
      List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
      for (int i = 0; i < unique; i++) {
        records.add(record(name, 0, "k" + i, "e" + i, i == 7 ? "bad" : "v" + i));
        if (i % 5 == 0) {
          records.add(record(name, 0, "k" + i, "e" + i, i == 7 ? "bad" : "v" + i));
        }
      }
      send(records);
      IdemConfig.Builder b = config(name, name).kafka("max.poll.records", "20");
      IdemConfig config =
          mode.equals("grouped") ? b.transactionMaxRecords(8).build() : b.batchSize(10).build();
      try (HikariDataSource pool = pool(10)) {
        List<IdempotentShareConsumer<String>> consumers = new ArrayList<>();
        try {
          for (int n = 0; n < 2; n++) {
            IdempotentShareConsumer.Builder<String> c =
                shareConsumerBuilder(config, Payloads.utf8(), pool);
            if (mode.equals("grouped")) {
              c.handler(
                  (value, ctx) -> {
                    if (value.equals("bad")) {
                      throw new NonRetryableException("bad");
                    }
                    insertEffect(effects, value, ctx);
                  });
            } else {
              c.batchHandler(
                  (events, ctx) -> {
                    for (BatchEvent<String> e : events) {
                      if (e.payload().equals("bad")) {
                        throw new NonRetryableException("bad");
                      }
                      try (java.sql.PreparedStatement ps =
                          ctx.connection()
                              .prepareStatement(
                                  "INSERT INTO "
                                      + effects
                                      + " (event_id, payload) VALUES (?, ?)")) {
                        ps.setString(1, e.eventId());
                        ps.setString(2, e.payload());
                        ps.executeUpdate();
                      }
                    }
                  });
            }
            IdempotentShareConsumer<String> consumer = c.build();
            consumers.add(consumer);
            consumer.start();
          }
          awaitTrue(
              Duration.ofSeconds(60),
              mode + ": every good event applied and the bad one dead-lettered",
              () ->
                  rows("SELECT count(DISTINCT event_id) FROM " + effects) == unique - 1
                      && rows(
                              "SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?",
                              name)
                          == 1);
          stays(
              Duration.ofSeconds(2),
              mode + ": nothing applied twice",
              () -> rows("SELECT count(*) FROM " + effects) == unique - 1);
        } finally {
          consumers.forEach(IdempotentShareConsumer::close);
        }
      }
    }
  }
}
