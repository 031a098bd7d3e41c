package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.TestInfrastructure;
import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Outages of the database and the broker while 10,000 records (8,000 events, 2,000 duplicate
 * copies) flow, and what {@link ConsumerHealth} reports through one. These tests stop and start
 * servers, so they run on servers of their own.
 */
class OutageTest {
  private static final int UNIQUE = 8_000;
  private static final int COPIES = 2_000;
  private static final int PARTITIONS = 4;

  private static EmbeddedKafkaBroker broker;
  private static EmbeddedPostgresServer postgres;

  @BeforeAll
  static void startServers() {
    broker = EmbeddedKafkaBroker.launch();
    postgres = EmbeddedPostgresServer.launch();
  }

  @AfterAll
  static void stopServers() {
    if (broker != null) {
      broker.close();
    }
    if (postgres != null) {
      postgres.close();
    }
  }

  @Test
  void terminatingEveryConsumerSessionRepeatedlyLosesAndDoublesNothing() throws Exception {
    run(
        "terminate",
        true,
        consumer -> {
          for (int round = 1; round <= 4; round++) {
            long before = consumer.snapshot().processed();
            awaitTrue(
                Duration.ofSeconds(60),
                "progress",
                () -> consumer.snapshot().processed() >= before + 800);
            assertThat(terminate("terminate")).isPositive();
          }
        });
  }

  @Test
  void aDatabaseRestartMidStreamLosesAndDoublesNothing() throws Exception {
    run(
        "pgrestart",
        true,
        consumer -> {
          awaitTrue(
              Duration.ofSeconds(60), "progress", () -> consumer.snapshot().processed() >= 1500);
          postgres.stop();
          Thread.sleep(2000);
          postgres.start();
        });
  }

  @Test
  void aBrokerRestartMidStreamLosesAndDoublesNothing() throws Exception {
    run(
        "brokerrestart",
        false,
        consumer -> {
          awaitTrue(
              Duration.ofSeconds(60), "progress", () -> consumer.snapshot().processed() >= 1500);
          broker.stop();
          Thread.sleep(2000);
          broker.start();
        });
  }

  /**
   * A share group archives a record past its delivery-count limit without a trace. While the
   * database is down the share consumer must acquire nothing, so an outage many lock durations long
   * uses up no deliveries: afterwards everything is applied, once, and nothing was archived.
   */
  @Test
  void aShareConsumerAcquiresNothingWhileTheDatabaseIsDownAndLosesNothingToTheDeliveryLimit()
      throws Exception {
    String name = TestInfrastructure.uniqueName("shareoutage");
    TestInfrastructure.createTopics(broker.bootstrapServers(), 1, Map.of(), name);
    try (org.apache.kafka.clients.admin.Admin admin =
        org.apache.kafka.clients.admin.Admin.create(
            Map.of("bootstrap.servers", broker.bootstrapServers()))) {
      admin
          .incrementalAlterConfigs(
              Map.of(
                  new org.apache.kafka.common.config.ConfigResource(
                      org.apache.kafka.common.config.ConfigResource.Type.GROUP, name),
                  List.of(
                      set("share.record.lock.duration.ms", "1000"),
                      set("share.delivery.count.limit", "2"))))
          .all()
          .get();
    }
    IdemConfig config =
        IdemConfig.builder(name)
            .bootstrapServers(broker.bootstrapServers())
            .topics(name)
            .concurrency(2)
            .drainTimeout(Duration.ofSeconds(5))
            .build();
    int events = 60;
    try (HikariDataSource pool = pool(postgres, 6, name)) {
      // Attempts fail fast while the server is down, as they would against a refused connection,
      // instead of waiting out the pool's timeout past the record's acquisition lock.
      pool.setConnectionTimeout(500);
      try (java.sql.Connection c = pool.getConnection();
          java.sql.Statement s = c.createStatement()) {
        s.execute("CREATE TABLE " + name + "_effects (event_id text)");
      }
      try (IdempotentShareConsumer<String> consumer =
          shareConsumerBuilder(config, Payloads.utf8(), pool)
              .handler(
                  (value, ctx) -> {
                    try (java.sql.PreparedStatement ps =
                        ctx.connection()
                            .prepareStatement(
                                "INSERT INTO " + name + "_effects (event_id) VALUES (?)")) {
                      ps.setString(1, ctx.eventId());
                      ps.executeUpdate();
                    }
                  })
              .build()) {
        consumer.start();
        awaitTrue(Duration.ofSeconds(30), "ready", () -> consumer.health().ready());
        postgres.stop();
        try {
          List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records =
              new java.util.ArrayList<>();
          for (int i = 0; i < events; i++) {
            records.add(shareRecord(name, "e" + i));
          }
          sendTo(broker.bootstrapServers(), records);
          // Six lock durations, three times the group's delivery limit.
          Thread.sleep(6000);
        } finally {
          postgres.start();
        }
        awaitTrue(
            Duration.ofSeconds(60),
            "every event applied after the outage",
            () ->
                countOn(pool, "SELECT count(DISTINCT event_id) FROM " + name + "_effects")
                    == events);
        assertThat(countOn(pool, "SELECT count(*) FROM " + name + "_effects")).isEqualTo(events);
        assertThat(
                countOn(
                    pool, "SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
            .isZero();
      }
    }
  }

  private static org.apache.kafka.clients.admin.AlterConfigOp set(String key, String value) {
    return new org.apache.kafka.clients.admin.AlterConfigOp(
        new org.apache.kafka.clients.admin.ConfigEntry(key, value),
        org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET);
  }

  private static org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> shareRecord(
      String topic, String eventId) {
    org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> r =
        new org.apache.kafka.clients.producer.ProducerRecord<>(
            topic, eventId.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    r.headers().add("webhook-id", eventId.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    return r;
  }

  private static void sendTo(
      String bootstrap, List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> rs)
      throws Exception {
    try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> p =
        new org.apache.kafka.clients.producer.KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap, "acks", "all"),
            new org.apache.kafka.common.serialization.ByteArraySerializer(),
            new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      for (org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> r : rs) {
        p.send(r).get();
      }
    }
  }

  private static long countOn(javax.sql.DataSource ds, String query, Object... params) {
    try (java.sql.Connection c = ds.getConnection();
        java.sql.PreparedStatement ps = prepare(c, query, params);
        java.sql.ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    } catch (java.sql.SQLException e) {
      return -1;
    }
  }

  @Test
  void aDatabaseOutageMakesTheConsumerNotReadyButLeavesItLiveUntilTheDatabaseReturns()
      throws Exception {
    probeThrough("pgprobe", postgres::stop, postgres::start, ConsumerHealth::databaseReachable);
  }

  @Test
  void aBrokerOutageMakesTheConsumerNotReadyButLeavesItLiveUntilTheBrokerReturns()
      throws Exception {
    probeThrough("brokerprobe", broker::stop, broker::start, ConsumerHealth::brokerReachable);
  }

  /**
   * Takes a server away from a ready consumer and brings it back: the consumer must turn not ready
   * (with {@code reachable} false) yet stay live, its poll loop must go on publishing, and it must
   * be ready again afterwards. Not live at any moment would mean an orchestrator restarts an
   * instance that a restart cannot help.
   */
  private void probeThrough(
      String scenario, Runnable stop, Runnable start, Predicate<ConsumerHealth> reachable)
      throws Exception {
    String name = TestInfrastructure.uniqueName(scenario);
    TestInfrastructure.createTopics(broker.bootstrapServers(), 1, Map.of(), name);
    IdemConfig config =
        IdemConfig.builder(name)
            .bootstrapServers(broker.bootstrapServers())
            .topics(name)
            .commitInterval(Duration.ofMillis(200))
            .drainTimeout(Duration.ofSeconds(5))
            .kafka("session.timeout.ms", 10_000)
            .build();
    List<ConsumerHealth> notLive = new CopyOnWriteArrayList<>();
    try (HikariDataSource pool = pool(postgres, 4, name);
        IdempotentConsumer<String> consumer =
            consumerBuilder(config, Payloads.utf8(), pool).handler((value, ctx) -> {}).build()) {
      consumer.start();
      awaitTrue(Duration.ofSeconds(30), "ready", () -> watch(consumer, notLive).ready());

      stop.run();
      ConsumerHealth down;
      try {
        awaitTrue(
            Duration.ofSeconds(20),
            "not ready while " + scenario + " is down",
            () -> {
              ConsumerHealth h = watch(consumer, notLive);
              return !h.ready() && !reachable.test(h);
            });
        down = consumer.health();
        Instant seen = down.lastPoll();
        awaitTrue(
            Duration.ofSeconds(5),
            "the poll loop publishes during the outage",
            () -> watch(consumer, notLive).lastPoll().isAfter(seen));
      } finally {
        start.run();
      }
      awaitTrue(Duration.ofSeconds(60), "ready again", () -> watch(consumer, notLive).ready());

      assertThat(down.state()).isEqualTo(ConsumerState.RUNNING);
      assertThat(down.live()).isTrue();
      assertThat(down.healthy()).as("healthy() is ready()").isFalse();
      assertThat(notLive).as("health views that were not live").isEmpty();
      assertThat(reachable.test(consumer.health())).isTrue();
    }
  }

  /** The consumer's health now, kept in {@code notLive} when it is not live. */
  private static ConsumerHealth watch(
      IdempotentConsumer<?> consumer, List<ConsumerHealth> notLive) {
    ConsumerHealth h = consumer.health();
    if (!h.live()) {
      notLive.add(h);
    }
    return h;
  }

  interface Fault {
    void inject(IdempotentConsumer<String> consumer) throws Exception;
  }

  private void run(String scenario, boolean databaseFault, Fault fault) throws Exception {
    String name = TestInfrastructure.uniqueName(scenario);
    TestInfrastructure.createTopics(broker.bootstrapServers(), PARTITIONS, Map.of(), name);
    String effects = name + "_effects";
    execute("CREATE TABLE " + effects + " (event_id text NOT NULL, at timestamptz DEFAULT now())");
    produce(name);

    IdemConfig config =
        IdemConfig.builder(name)
            .bootstrapServers(broker.bootstrapServers())
            .topics(name)
            .concurrency(4)
            .commitInterval(Duration.ofMillis(200))
            .drainTimeout(Duration.ofSeconds(5))
            .retry(RetryPolicy.exponential(10, Duration.ofMillis(50), Duration.ofSeconds(1)))
            .kafka("session.timeout.ms", 10_000)
            .build();
    try (HikariDataSource pool = pool(postgres, 6, name);
        IdempotentConsumer<String> consumer =
            consumerBuilder(config, Payloads.utf8(), pool)
                .handler(
                    (value, ctx) -> {
                      try (java.sql.PreparedStatement ps =
                          ctx.connection()
                              .prepareStatement(
                                  "INSERT INTO " + effects + " (event_id) VALUES (?)")) {
                        ps.setString(1, ctx.eventId());
                        ps.executeUpdate();
                      }
                    })
                .build()) {
      consumer.start();
      fault.inject(consumer);
      awaitTrue(
          Duration.ofSeconds(180),
          "every event applied",
          () -> queryLong("SELECT count(DISTINCT event_id) FROM " + effects) == UNIQUE);
      awaitTrue(Duration.ofSeconds(60), "offsets committed to the end", () -> committedToEnd(name));
      assertThat(queryLong("SELECT count(*) FROM " + effects)).as("doubled").isEqualTo(UNIQUE);
      assertThat(consumer.snapshot().state()).isEqualTo(ConsumerState.RUNNING);
      assertThat(consumer.snapshot().deadLettered()).isZero();
      if (databaseFault) {
        assertThat(consumer.snapshot().retries()).as("transactions hit by the fault").isPositive();
      }
    }
  }

  private static void produce(String topic) throws Exception {
    Random random = new Random(topic.hashCode());
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < UNIQUE; i++) {
      records.add(record(topic, null, "acct-" + (i % 50), topic + "-" + i, "v"));
    }
    for (int i = 0; i < COPIES; i++) {
      int id = random.nextInt(UNIQUE);
      // Copies land on any partition, not only the original's.
      records.add(
          record(topic, random.nextInt(PARTITIONS), "acct-" + (id % 50), topic + "-" + id, "v"));
    }
    Collections.shuffle(records, random);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                broker.bootstrapServers(),
                ProducerConfig.LINGER_MS_CONFIG,
                5),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      for (ProducerRecord<byte[], byte[]> r : records) {
        producer.send(r);
      }
      producer.flush();
    }
  }

  private static boolean committedToEnd(String topic) {
    try (Admin admin =
        Admin.create(
            Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()))) {
      Map<TopicPartition, OffsetSpec> request = new java.util.HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        request.put(new TopicPartition(topic, p), OffsetSpec.latest());
      }
      var ends = admin.listOffsets(request).all().get(10, TimeUnit.SECONDS);
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin
              .listConsumerGroupOffsets(topic)
              .partitionsToOffsetAndMetadata()
              .get(10, TimeUnit.SECONDS);
      return ends.entrySet().stream()
          .allMatch(
              e ->
                  committed.get(e.getKey()) != null
                      && committed.get(e.getKey()).offset() == e.getValue().offset());
    } catch (Exception e) {
      return false;
    }
  }

  private static int terminate(String applicationPrefix) throws SQLException {
    return (int)
        queryLong(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                + " WHERE application_name LIKE '"
                + applicationPrefix
                + "%'");
  }

  private static void execute(String sql) throws SQLException {
    try (Connection c = postgres.dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  private static long queryLong(String sql) {
    try (Connection c = postgres.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      return -1;
    }
  }
}
