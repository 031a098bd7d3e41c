package dev.idem.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.EventHandler;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.ProcessingContext;
import dev.idem.testkit.TestInfrastructure;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.IllegalTransactionStateException;
import org.springframework.transaction.annotation.Propagation;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.event.TransactionPhase;
import org.springframework.transaction.event.TransactionalEventListener;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.json.JsonMapper;

/**
 * Spring's JDBC transactions inside idem's handlers, in a real Boot application on the testkit's
 * Kafka and PostgreSQL: each scenario is a consumer of its own, and each asserts on the database.
 */
class SpringTransactionJoinTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();
  static final String SUFFIX = TestInfrastructure.uniqueName("j");
  static final String WRITTEN = "written-" + SUFFIX;
  static final String PARTICIPANT = "participant-" + SUFFIX;
  static final String REQUIRES_NEW = "requiresnew-" + SUFFIX;
  static final String CALLBACKS = "callbacks-" + SUFFIX;
  static final String GROUPED = "grouped-" + SUFFIX;
  static final String JSON = "json-" + SUFFIX;
  static final String SHARED = "shared-" + SUFFIX;

  static ConfigurableApplicationContext context;

  @BeforeAll
  static void start() throws Exception {
    List<String> topics =
        List.of(WRITTEN, PARTICIPANT, REQUIRES_NEW, CALLBACKS, GROUPED, JSON, SHARED);
    INFRA.createTopics(1, topics.toArray(String[]::new));
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement()) {
      s.execute(
          "CREATE TABLE IF NOT EXISTS spring_effects (consumer text, event_id text, attempt int,"
              + " via text, txid bigint, idem_txid bigint)");
    }
    SpringApplicationBuilder app =
        new SpringApplicationBuilder(JoinApp.class).web(WebApplicationType.NONE);
    app.properties(TestApps.infrastructure(INFRA));
    app.properties(
        "idem.defaults.event-id=header:webhook-id",
        "idem.defaults.retry.max-attempts=3",
        "idem.defaults.retry.initial-backoff=50ms",
        "idem.defaults.retry.max-backoff=50ms",
        "idem.defaults.commit-interval=200ms",
        "idem.defaults.drain-timeout=5s");
    for (String topic : topics) {
      String bean = topic.substring(0, topic.indexOf('-'));
      app.properties(
          "idem.consumers." + topic + ".topics=" + topic,
          "idem.consumers." + topic + ".handler=" + bean);
    }
    app.properties("idem.consumers." + GROUPED + ".transaction.max-records=8");
    app.properties("idem.consumers." + SHARED + ".group-type=share");
    context = app.run();
  }

  @AfterAll
  static void stop() {
    if (context != null) {
      context.close();
    }
  }

  @Test
  void jdbcTemplateInAHandlerRunsInIdemsTransactionAndCommitsWithTheMark() throws Exception {
    send(WRITTEN, "ok-1", "ok");
    awaitRows("consumer = '" + WRITTEN + "' AND event_id = 'ok-1'", 1);
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery("SELECT txid, idem_txid FROM spring_effects WHERE event_id = 'ok-1'")) {
      assertThat(rs.next()).isTrue();
      // The template's statement ran in the very transaction of idem's connection.
      assertThat(rs.getLong(1)).isEqualTo(rs.getLong(2));
    }
    assertThat(rows("SELECT count(*) FROM idem.processed_events WHERE event_id = 'ok-1'"))
        .isEqualTo(1);
  }

  @Test
  void aHandlerThatWritesThroughJdbcTemplateAndThenThrowsLeavesNothingBehind() throws Exception {
    send(WRITTEN, "throw-1", "throw");
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> rows("SELECT count(*) FROM idem.dead_letters WHERE event_id = 'throw-1'") == 1);
    assertThat(rows("SELECT count(*) FROM spring_effects WHERE event_id = 'throw-1'")).isZero();
    assertThat(JoinApp.calls.get("throw-1").get()).isEqualTo(1);
  }

  @Test
  void aDuplicateIsSkippedWithoutCallingTheHandler() throws Exception {
    send(WRITTEN, "dup-1", "ok");
    send(WRITTEN, "dup-1", "ok");
    send(WRITTEN, "after-dup-1", "ok");
    awaitRows("event_id = 'after-dup-1'", 1);
    assertThat(rows("SELECT count(*) FROM spring_effects WHERE event_id = 'dup-1'")).isEqualTo(1);
    assertThat(JoinApp.calls.get("dup-1").get()).isEqualTo(1);
  }

  @Test
  void aParticipantMarkedRollbackOnlyRollsTheAttemptBackEvenWhenTheHandlerCatchesIt()
      throws Exception {
    send(PARTICIPANT, "rb-1", "ok");
    // Attempt 1: the @Transactional service writes, then throws; the handler swallows it.
    awaitRows("consumer = '" + PARTICIPANT + "' AND event_id = 'rb-1' AND attempt = 2", 2);
    assertThat(rows("SELECT count(*) FROM spring_effects WHERE event_id = 'rb-1' AND attempt = 1"))
        .isZero();
  }

  @Test
  void requiresNewInsideAHandlerIsRefusedAndTheTransactionGoesOn() throws Exception {
    send(REQUIRES_NEW, "rn-1", "ok");
    awaitRows("consumer = '" + REQUIRES_NEW + "' AND event_id = 'rn-1'", 1);
    assertThat(rows("SELECT count(*) FROM spring_effects WHERE via = 'requires-new'")).isZero();
    assertThat(JoinApp.refusals.get("rn-1"))
        .isEqualTo(IllegalTransactionStateException.class.getName());
  }

  @Test
  void afterCommitCallbacksAndTransactionalEventListenersRunAfterIdemsCommit() throws Exception {
    send(CALLBACKS, "cb-1", "ok");
    await().atMost(Duration.ofSeconds(30)).until(() -> JoinApp.listenerSaw.containsKey("cb-1"));
    await().atMost(Duration.ofSeconds(5)).until(() -> JoinApp.afterCommitSaw.containsKey("cb-1"));
    // Each looked from a connection of its own: the row and the mark were committed already.
    assertThat(JoinApp.afterCommitSaw.get("cb-1")).isEqualTo(1L);
    assertThat(JoinApp.listenerSaw.get("cb-1")).isEqualTo(1L);
    assertThat(JoinApp.boundDuringAfterCommit.get("cb-1")).isFalse();
  }

  @Test
  void inAGroupedTransactionAFailedRecordsCallbacksDoNotFire() throws Exception {
    send(GROUPED, "g-1", "ok", "g-2", "bad", "g-3", "ok", "g-4", "ok");
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> rows("SELECT count(*) FROM idem.dead_letters WHERE event_id = 'g-2'") == 1);
    awaitRows("consumer = '" + GROUPED + "'", 3);
    await().atMost(Duration.ofSeconds(5)).until(() -> JoinApp.groupCommitted.size() == 3);
    assertThat(JoinApp.groupCommitted).containsExactlyInAnyOrder("g-1", "g-3", "g-4");
    assertThat(JoinApp.groupRolledBack).contains("g-2");
  }

  @Test
  void aShareGroupConsumersJdbcTemplateRunsInIdemsTransactionToo() throws Exception {
    send(SHARED, "sh-1", "ok");
    awaitRows("consumer = '" + SHARED + "' AND event_id = 'sh-1'", 1);
    assertThat(
            rows(
                "SELECT count(*) FROM spring_effects WHERE event_id = 'sh-1' AND txid ="
                    + " idem_txid"))
        .isEqualTo(1);
    assertThat(context.getBean(IdemConsumers.class).shareConsumer(SHARED)).isPresent();
  }

  @Test
  void jsonPayloadsAreReadWithTheApplicationsJackson3Mapper() throws Exception {
    // The application's JsonMapper reads snake_case; idem's default mapper would not.
    send(JSON, "js-1", "{\"account_id\":\"acc-7\",\"amount_cents\":250}");
    awaitRows("consumer = '" + JSON + "' AND via = 'acc-7:250'", 1);
  }

  @Test
  void anExclusiveJobRunsOnOneCallerAtATimeAndAtMostOncePerWindow() throws Exception {
    Jobs jobs = context.getBean(Jobs.class);
    java.util.concurrent.CompletableFuture<String> first =
        java.util.concurrent.CompletableFuture.supplyAsync(jobs::nightly);
    await().atMost(Duration.ofSeconds(10)).until(() -> Jobs.running.get() == 1);
    // Another caller (as another instance's scheduler would) finds the job running and skips.
    assertThat(jobs.nightly()).isNull();
    Jobs.release.countDown();
    assertThat(first.get(10, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo("ran");
    assertThat(Jobs.runs.get()).isEqualTo(1);
    // Once it finished, the next run goes ahead.
    Jobs.runs.set(0);
    assertThat(jobs.nightly()).isEqualTo("ran");
    // Once per window: the second call in the same hour skips.
    assertThat(jobs.hourly()).isEqualTo("ran");
    assertThat(jobs.hourly()).isNull();
    assertThat(Jobs.hourlyRuns.get()).isEqualTo(1);
  }

  // ---- helpers ----------------------------------------------------------------------------

  /** Sends (event id, payload) pairs to {@code topic}, in order, on its one partition. */
  static void send(String topic, String... idsAndPayloads) throws Exception {
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                INFRA.kafka().bootstrapServers(),
                ProducerConfig.LINGER_MS_CONFIG,
                20),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      for (int i = 0; i < idsAndPayloads.length; i += 2) {
        ProducerRecord<byte[], byte[]> r =
            new ProducerRecord<>(
                topic,
                0,
                idsAndPayloads[i].getBytes(StandardCharsets.UTF_8),
                idsAndPayloads[i + 1].getBytes(StandardCharsets.UTF_8));
        r.headers().add("webhook-id", idsAndPayloads[i].getBytes(StandardCharsets.UTF_8));
        producer.send(r);
      }
      producer.flush();
    }
  }

  static long rows(String query) throws Exception {
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(query)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  static void awaitRows(String where, long expected) {
    await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(100))
        .until(() -> rows("SELECT count(*) FROM spring_effects WHERE " + where) == expected);
  }

  /** The application: a handler bean per scenario. */
  @SpringBootConfiguration
  @EnableAutoConfiguration
  @Import({Ledger.class, Listener.class, Jobs.class})
  static class JoinApp {
    static final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    static final Map<String, String> refusals = new ConcurrentHashMap<>();
    static final Map<String, Long> afterCommitSaw = new ConcurrentHashMap<>();
    static final Map<String, Boolean> boundDuringAfterCommit = new ConcurrentHashMap<>();
    static final Map<String, Long> listenerSaw = new ConcurrentHashMap<>();
    static final List<String> groupCommitted = new CopyOnWriteArrayList<>();
    static final Set<String> groupRolledBack = ConcurrentHashMap.newKeySet();

    @Bean
    EventHandler<String> written(JdbcTemplate jdbc) {
      return (payload, ctx) -> {
        calls.computeIfAbsent(ctx.eventId(), k -> new AtomicInteger()).incrementAndGet();
        Ledger.write(jdbc, ctx, "template", idemTxid(ctx));
        if (payload.equals("throw")) {
          throw new NonRetryableException("the handler fails after its write");
        }
      };
    }

    @Bean
    EventHandler<String> participant(Ledger ledger) {
      return (payload, ctx) -> {
        try {
          ledger.writeThenFailOnFirstAttempt(ctx);
        } catch (IllegalStateException swallowed) {
          // A handler that swallows its service's failure must not commit half of it.
        }
        ledger.mandatory(ctx);
      };
    }

    @Bean
    EventHandler<String> requiresnew(Ledger ledger, JdbcTemplate jdbc) {
      return (payload, ctx) -> {
        try {
          ledger.requiresNew(ctx);
        } catch (RuntimeException e) {
          refusals.put(ctx.eventId(), e.getClass().getName());
        }
        Ledger.write(jdbc, ctx, "template", idemTxid(ctx));
      };
    }

    @Bean
    EventHandler<String> callbacks(JdbcTemplate jdbc, ApplicationEventPublisher events) {
      return (payload, ctx) -> {
        Ledger.write(jdbc, ctx, "template", idemTxid(ctx));
        String id = ctx.eventId();
        TransactionSynchronizationManager.registerSynchronization(
            new TransactionSynchronization() {
              @Override
              public void afterCommit() {
                boundDuringAfterCommit.put(
                    id, TransactionSynchronizationManager.hasResource(jdbc.getDataSource()));
                afterCommitSaw.put(id, committedMarks(jdbc, id));
              }
            });
        events.publishEvent(new Applied(id));
      };
    }

    @Bean
    EventHandler<String> shared(JdbcTemplate jdbc) {
      return (payload, ctx) -> Ledger.write(jdbc, ctx, "template", idemTxid(ctx));
    }

    @Bean
    EventHandler<String> grouped(JdbcTemplate jdbc) {
      return (payload, ctx) -> {
        String id = ctx.eventId();
        Ledger.write(jdbc, ctx, "template", idemTxid(ctx));
        TransactionSynchronizationManager.registerSynchronization(
            new TransactionSynchronization() {
              @Override
              public void afterCommit() {
                groupCommitted.add(id);
              }

              @Override
              public void afterCompletion(int status) {
                if (status == STATUS_ROLLED_BACK) {
                  groupRolledBack.add(id);
                }
              }
            });
        if (payload.equals("bad")) {
          throw new NonRetryableException("bad record");
        }
      };
    }

    @Bean
    JsonMapper jsonMapper() {
      return JsonMapper.builder()
          .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
          .build();
    }

    @Bean
    EventHandler<Payment> json(JdbcTemplate jdbc) {
      return (payment, ctx) ->
          Ledger.write(jdbc, ctx, payment.accountId() + ":" + payment.amountCents(), 0);
    }

    static long idemTxid(ProcessingContext ctx) throws Exception {
      try (Statement s = ctx.connection().createStatement();
          ResultSet rs = s.executeQuery("SELECT txid_current()")) {
        rs.next();
        return rs.getLong(1);
      }
    }

    /** Counted on a connection of its own (nothing is bound after the commit). */
    static long committedMarks(JdbcTemplate jdbc, String eventId) {
      Long n =
          jdbc.queryForObject(
              "SELECT count(*) FROM idem.processed_events p JOIN spring_effects e"
                  + " ON e.event_id = p.event_id WHERE p.event_id = ?",
              Long.class,
              eventId);
      return n == null ? 0 : n;
    }
  }

  /** A JSON payload, written in snake_case by its producer. */
  record Payment(String accountId, long amountCents) {}

  /** Scheduled-style jobs that must not run twice at once across instances. */
  static class Jobs {
    // Static: the bean the test holds is the proxy, whose own fields are unset.
    static final AtomicInteger running = new AtomicInteger();
    static final AtomicInteger runs = new AtomicInteger();
    static final AtomicInteger hourlyRuns = new AtomicInteger();
    static final java.util.concurrent.CountDownLatch release =
        new java.util.concurrent.CountDownLatch(1);

    @ExclusiveJob(name = "nightly")
    public String nightly() {
      running.incrementAndGet();
      try {
        runs.incrementAndGet();
        release.await(10, java.util.concurrent.TimeUnit.SECONDS);
        return "ran";
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted";
      } finally {
        running.decrementAndGet();
      }
    }

    @ExclusiveJob(name = "hourly", oncePer = "1h")
    public String hourly() {
      hourlyRuns.incrementAndGet();
      return "ran";
    }
  }

  /** An application event published inside the handler's transaction. */
  record Applied(String eventId) {}

  /** Fires only after idem's commit. */
  static class Listener {
    private final JdbcTemplate jdbc;

    Listener(JdbcTemplate jdbc) {
      this.jdbc = jdbc;
    }

    @TransactionalEventListener(phase = TransactionPhase.AFTER_COMMIT)
    void on(Applied applied) {
      JoinApp.listenerSaw.put(applied.eventId(), JoinApp.committedMarks(jdbc, applied.eventId()));
    }
  }

  /** A service with @Transactional methods, as applications write them. */
  @Service
  static class Ledger {
    private final JdbcTemplate jdbc;

    Ledger(JdbcTemplate jdbc) {
      this.jdbc = jdbc;
    }

    static void write(JdbcTemplate jdbc, ProcessingContext ctx, String via, long idemTxid) {
      jdbc.update(
          "INSERT INTO spring_effects (consumer, event_id, attempt, via, txid, idem_txid)"
              + " VALUES (?, ?, ?, ?, txid_current(), ?)",
          ctx.consumerName(),
          ctx.eventId(),
          ctx.attempt(),
          via,
          idemTxid);
    }

    @Transactional(propagation = Propagation.REQUIRED)
    public void writeThenFailOnFirstAttempt(ProcessingContext ctx) {
      write(jdbc, ctx, "required", 0);
      if (ctx.attempt() == 1) {
        throw new IllegalStateException("the service fails on the first attempt");
      }
    }

    @Transactional(propagation = Propagation.MANDATORY)
    public void mandatory(ProcessingContext ctx) {
      write(jdbc, ctx, "mandatory", 0);
    }

    @Transactional(propagation = Propagation.REQUIRES_NEW)
    public void requiresNew(ProcessingContext ctx) {
      write(jdbc, ctx, "requires-new", 0);
    }
  }
}
