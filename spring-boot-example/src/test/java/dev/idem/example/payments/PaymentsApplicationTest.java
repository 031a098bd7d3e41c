package dev.idem.example.payments;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.testkit.TestInfrastructure;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.core.env.Environment;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The payments service started whole (web server, actuator, idem's starter) against the testkit's
 * real Kafka and PostgreSQL: duplicate payment events, sent again and to other partitions, move
 * each balance once.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class PaymentsApplicationTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();
  static final int PARTITIONS = 3;

  @Autowired JdbcTemplate jdbc;
  @Autowired Ledger ledger;
  @Autowired Environment environment;
  @Autowired DailyTotals totals;

  @BeforeAll
  static void topic() {
    INFRA.createTopics(PARTITIONS, "payments");
  }

  @DynamicPropertySource
  static void servers(DynamicPropertyRegistry registry) {
    registry.add("spring.datasource.url", () -> INFRA.postgres().jdbcUrl());
    registry.add("spring.datasource.username", () -> INFRA.postgres().user());
    registry.add("spring.datasource.password", () -> INFRA.postgres().password());
    registry.add("spring.kafka.bootstrap-servers", () -> INFRA.kafka().bootstrapServers());
    registry.add("idem.defaults.commit-interval", () -> "200ms");
  }

  @Test
  void duplicatePaymentsMoveEachBalanceOnceAndEveryOffsetIsCommitted() throws Exception {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    long[] expected = new long[5];
    for (int i = 0; i < 60; i++) {
      int account = i % 5;
      long amount = 100 + i;
      expected[account] += amount;
      ProducerRecord<byte[], byte[]> payment = payment("pay-" + i, "acc-" + account, amount, null);
      records.add(payment);
      // Every third payment arrives twice: redelivered on its own partition, or re-sent by the
      // provider and landing on another one.
      if (i % 3 == 0) {
        records.add(payment("pay-" + i, "acc-" + account, amount, i % 2 == 0 ? null : 0));
      }
    }
    send(records);
    await()
        .atMost(Duration.ofSeconds(60))
        .until(() -> count("SELECT count(DISTINCT event_id) FROM ledger_entries") == 60);
    // Let any late copy come through before counting doubles.
    await().atMost(Duration.ofSeconds(30)).until(() -> committedEveryOffset("payments"));
    assertThat(count("SELECT count(*) FROM ledger_entries")).isEqualTo(60);
    for (int a = 0; a < 5; a++) {
      assertThat(ledger.balance("acc-" + a)).as("acc-%d", a).isEqualTo(expected[a]);
    }
  }

  @Test
  void theApplicationRunsIdemsPinnedKafkaClientNotBootsManagedOne() {
    assertThat(AppInfoParser.getVersion()).isEqualTo("4.3.1");
  }

  @Test
  void readinessAndLivenessProbesIncludeTheConsumerAndMetricsArePublished() throws Exception {
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> get("/actuator/health/readiness").statusCode() == 200);
    HttpResponse<String> readiness = get("/actuator/health/readiness");
    assertThat(readiness.body()).contains("\"idemReadiness\"").contains("\"payments\"");
    HttpResponse<String> liveness = get("/actuator/health/liveness");
    assertThat(liveness.statusCode()).isEqualTo(200);
    assertThat(liveness.body()).contains("\"idemLiveness\"");
    HttpResponse<String> prometheus = get("/actuator/prometheus");
    assertThat(prometheus.statusCode()).isEqualTo(200);
    assertThat(prometheus.body()).contains("idem_").contains("consumer=\"payments\"");
  }

  @Test
  void theNightlyJobRunsOncePerDayHoweverOftenItIsCalled() {
    // The test JVM's database is new: no window of this job has run yet.
    Integer first = totals.record();
    Integer second = totals.record();
    assertThat(first).isEqualTo(1);
    assertThat(second).isNull();
    assertThat(count("SELECT count(*) FROM daily_totals")).isEqualTo(1);
  }

  // ---- helpers ----------------------------------------------------------------------------

  static ProducerRecord<byte[], byte[]> payment(
      String id, String account, long amount, Integer partition) {
    String json =
        "{\"paymentId\":\""
            + id
            + "\",\"account\":\""
            + account
            + "\",\"amountCents\":"
            + amount
            + "}";
    ProducerRecord<byte[], byte[]> r =
        new ProducerRecord<>(
            "payments",
            partition,
            account.getBytes(StandardCharsets.UTF_8),
            json.getBytes(StandardCharsets.UTF_8));
    r.headers().add("payment-id", id.getBytes(StandardCharsets.UTF_8));
    return r;
  }

  static void send(List<ProducerRecord<byte[], byte[]>> records) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                INFRA.kafka().bootstrapServers(),
                ProducerConfig.ACKS_CONFIG,
                "all"),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      for (ProducerRecord<byte[], byte[]> r : records) {
        producer.send(r).get();
      }
    }
  }

  long count(String sql) {
    Long n = jdbc.queryForObject(sql, Long.class);
    return n == null ? 0 : n;
  }

  static boolean committedEveryOffset(String topic) throws Exception {
    try (Admin admin =
        Admin.create(
            Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, INFRA.kafka().bootstrapServers()))) {
      Set<TopicPartition> partitions =
          java.util.stream.IntStream.range(0, PARTITIONS)
              .mapToObj(p -> new TopicPartition(topic, p))
              .collect(Collectors.toSet());
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin.listConsumerGroupOffsets("payments").partitionsToOffsetAndMetadata().get();
      Map<TopicPartition, OffsetSpec> latest =
          partitions.stream().collect(Collectors.toMap(p -> p, p -> OffsetSpec.latest()));
      var ends = admin.listOffsets(latest).all().get();
      for (TopicPartition p : partitions) {
        long end = ends.get(p).offset();
        OffsetAndMetadata c = committed.get(p);
        if (end > 0 && (c == null || c.offset() != end)) {
          return false;
        }
      }
      return true;
    }
  }

  HttpResponse<String> get(String path) throws Exception {
    String port = environment.getProperty("local.server.port");
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
  }
}
