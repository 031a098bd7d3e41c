package dev.idem.consumer;

import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Shared helpers for integration tests against the real broker and database. */
final class IdemTestSupport {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();

  /**
   * The auto-commit setting of the pools tests make: true by default, false while {@link
   * AutoCommitOffPoolTest} runs the core suites again (a common HikariCP setting that idem must not
   * depend on).
   */
  static volatile boolean poolAutoCommit = true;

  private IdemTestSupport() {}

  static String bootstrap() {
    return INFRA.kafka().bootstrapServers();
  }

  static HikariDataSource pool(int size) {
    return pool(INFRA.postgres(), size, "idem-test");
  }

  /** A pool whose sessions carry {@code applicationName}, so tests can find their backends. */
  static HikariDataSource pool(
      dev.idem.testkit.pg.PostgresServer server, int size, String applicationName) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(server.jdbcUrl());
    c.setUsername(server.user());
    c.setPassword(server.password());
    c.addDataSourceProperty("ApplicationName", applicationName);
    c.setConnectionTimeout(5000);
    c.setMaximumPoolSize(size);
    c.setMinimumIdle(1);
    c.setAutoCommit(poolAutoCommit);
    c.setPoolName(TestInfrastructure.uniqueName("pool"));
    return new HikariDataSource(c);
  }

  /** A config with short intervals, suitable for tests. */
  static IdemConfig.Builder config(String name, String... topics) {
    return IdemConfig.builder(name)
        .bootstrapServers(bootstrap())
        .topics(topics)
        .commitInterval(Duration.ofMillis(200))
        .drainTimeout(Duration.ofSeconds(5))
        .retry(RetryPolicy.fixed(5, Duration.ofMillis(50)));
  }

  /**
   * A consumer builder with the setup most tests share: {@code pool} for the transactions and event
   * ids from the {@code webhook-id} header. The test adds its handler and other settings.
   */
  static <T> IdempotentConsumer.Builder<T> consumerBuilder(
      IdemConfig config, PayloadDeserializer<T> payloads, DataSource pool) {
    return IdempotentConsumer.builder(config, payloads)
        .dataSource(pool)
        .eventIds(EventIds.header("webhook-id"));
  }

  /** {@link #consumerBuilder} for a share-group consumer. */
  static <T> IdempotentShareConsumer.Builder<T> shareConsumerBuilder(
      IdemConfig config, PayloadDeserializer<T> payloads, DataSource pool) {
    return IdempotentShareConsumer.builder(config, payloads)
        .dataSource(pool)
        .eventIds(EventIds.header("webhook-id"));
  }

  /** A table {@code name(event_id text, payload text)} with no unique key, so doubles show. */
  static void createEffectsTable(String table) throws SQLException {
    sql(
        "CREATE TABLE "
            + table
            + " (event_id text NOT NULL, payload text, partition int,"
            + " kafka_offset bigint, attempt int, at timestamptz DEFAULT clock_timestamp())");
  }

  static void sql(String statement) throws SQLException {
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute(statement);
    }
  }

  /**
   * The first column of the query's first row, as a long (0 for NULL). {@code params} are bound to
   * the query's {@code ?} placeholders; only identifiers the test chose itself, such as its table
   * names, go into the query text.
   */
  static long count(String query, Object... params) throws SQLException {
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps = prepare(c, query, params);
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * {@link #count}, or -1 when the query fails: for conditions that are polled, which cannot throw
   * {@link SQLException}.
   */
  static long countQuietly(String query, Object... params) {
    try {
      return count(query, params);
    } catch (SQLException e) {
      return -1;
    }
  }

  /** A statement on {@code c} for {@code query}, with {@code params} bound to its placeholders. */
  static PreparedStatement prepare(Connection c, String query, Object... params)
      throws SQLException {
    PreparedStatement ps = c.prepareStatement(query);
    try {
      for (int i = 0; i < params.length; i++) {
        if (params[i] instanceof String text) {
          // Untyped, as a quoted literal is: PostgreSQL takes the type from the column compared.
          ps.setObject(i + 1, text, Types.OTHER);
        } else {
          ps.setObject(i + 1, params[i]);
        }
      }
      return ps;
    } catch (SQLException | RuntimeException e) {
      ps.close();
      throw e;
    }
  }

  /** Inserts an effect row through the handler's transaction connection. */
  static void insertEffect(String table, String payload, ProcessingContext ctx)
      throws SQLException {
    try (PreparedStatement ps =
        ctx.connection()
            .prepareStatement(
                "INSERT INTO "
                    + table
                    + " (event_id, payload, partition, kafka_offset, attempt)"
                    + " VALUES (?, ?, ?, ?, ?)")) {
      ps.setString(1, ctx.eventId());
      ps.setString(2, payload);
      ps.setInt(3, ctx.partition());
      ps.setLong(4, ctx.offset());
      ps.setInt(5, ctx.attempt());
      ps.executeUpdate();
    }
  }

  /**
   * Runs a statement on {@code c} that fails with division_by_zero (22012) and catches the error,
   * as a careless handler does: PostgreSQL has aborted the transaction by then.
   */
  static void swallowFailingStatement(Connection c) {
    try (Statement s = c.createStatement()) {
      s.execute("SELECT 1 / 0");
    } catch (SQLException ignored) {
      // The careless part.
    }
  }

  static KafkaProducer<byte[], byte[]> producer() {
    return new KafkaProducer<>(
        Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
            bootstrap(),
            ProducerConfig.ACKS_CONFIG,
            "all",
            ProducerConfig.LINGER_MS_CONFIG,
            5),
        new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  /** A record with a {@code webhook-id} header. */
  static ProducerRecord<byte[], byte[]> record(
      String topic, Integer partition, String key, String eventId, String value) {
    ProducerRecord<byte[], byte[]> r =
        new ProducerRecord<>(
            topic,
            partition,
            key == null ? null : key.getBytes(StandardCharsets.UTF_8),
            value == null ? null : value.getBytes(StandardCharsets.UTF_8));
    if (eventId != null) {
      r.headers().add("webhook-id", eventId.getBytes(StandardCharsets.UTF_8));
    }
    return r;
  }

  static void send(List<ProducerRecord<byte[], byte[]>> records) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = producer()) {
      List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
      for (ProducerRecord<byte[], byte[]> r : records) {
        sent.add(producer.send(r));
      }
      for (java.util.concurrent.Future<?> f : sent) {
        f.get(30, TimeUnit.SECONDS);
      }
    }
  }

  /** The group's committed offsets on the broker. */
  static Map<TopicPartition, Long> committedOffsets(String group) throws Exception {
    try (Admin admin = admin()) {
      Map<TopicPartition, OffsetAndMetadata> offsets =
          admin
              .listConsumerGroupOffsets(group)
              .partitionsToOffsetAndMetadata()
              .get(30, TimeUnit.SECONDS);
      Map<TopicPartition, Long> result = new HashMap<>();
      offsets.forEach(
          (tp, om) -> {
            if (om != null) result.put(tp, om.offset());
          });
      return result;
    }
  }

  /** The end offsets of the topics' partitions. */
  static Map<TopicPartition, Long> endOffsets(String topic, int partitions) throws Exception {
    try (Admin admin = admin()) {
      Map<TopicPartition, OffsetSpec> request = new HashMap<>();
      for (int p = 0; p < partitions; p++) {
        request.put(new TopicPartition(topic, p), OffsetSpec.latest());
      }
      Map<TopicPartition, Long> result = new HashMap<>();
      admin
          .listOffsets(request)
          .all()
          .get(30, TimeUnit.SECONDS)
          .forEach((tp, info) -> result.put(tp, info.offset()));
      return result;
    }
  }

  static Admin admin() {
    return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap()));
  }

  static void awaitTrue(Duration timeout, String what, BooleanSupplier condition) {
    await(what).atMost(timeout).pollInterval(Duration.ofMillis(50)).until(condition::getAsBoolean);
  }

  /** Asserts that {@code condition} holds throughout {@code duration} (checked every 50 ms). */
  static void stays(Duration duration, String what, BooleanSupplier condition) {
    await(what)
        .during(duration)
        .atMost(duration.plusSeconds(5))
        .pollInterval(Duration.ofMillis(50))
        .until(condition::getAsBoolean);
  }

  static void awaitAssigned(IdempotentConsumer<?> consumer) {
    awaitTrue(
        Duration.ofSeconds(60),
        consumer.name() + " assigned",
        () -> !consumer.snapshot().assigned().isEmpty());
  }

  /** The first column of every row of the query; {@code params} are bound as in {@link #count}. */
  static Set<String> strings(String query, Object... params) throws SQLException {
    Set<String> result = new java.util.HashSet<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps = prepare(c, query, params);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        result.add(rs.getString(1));
      }
    }
    return result;
  }

  /** The first record on {@code topic}, read by a consumer of a group of its own (30 s at most). */
  static ConsumerRecord<byte[], byte[]> readOne(String topic) {
    try (KafkaConsumer<byte[], byte[]> reader =
        new KafkaConsumer<>(
            Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap(),
                ConsumerConfig.GROUP_ID_CONFIG, TestInfrastructure.uniqueName("reader"),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      reader.subscribe(List.of(topic));
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : reader.poll(Duration.ofMillis(200))) {
          return r;
        }
      }
    }
    throw new AssertionError("nothing on " + topic);
  }
}
