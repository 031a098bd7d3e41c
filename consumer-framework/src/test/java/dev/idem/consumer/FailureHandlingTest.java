package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.cli.ReplayDeadLetters;
import dev.idem.consumer.internal.dispatch.RecordTask;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

class FailureHandlingTest {
  @RegisterExtension final Closer closer = new Closer();

  private <C extends AutoCloseable> C closeLater(C closeable) {
    return closer.add(closeable);
  }

  private IdempotentConsumer<String> start(
      IdemConfig config, EventHandler<String> handler, MeterRegistry registry) {
    IdempotentConsumer<String> consumer =
        closeLater(
            consumerBuilder(config, Payloads.utf8(), closeLater(pool(config.concurrency() + 2)))
                .handler(handler)
                .meterRegistry(registry)
                .build());
    consumer.start();
    return consumer;
  }

  @Test
  void aHandlerFailingTwiceThenSucceedingIsAppliedOnceOnItsThirdAttempt() throws Exception {
    String name = TestInfrastructure.uniqueName("transient");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    AtomicInteger calls = new AtomicInteger();
    MeterRegistry registry = new SimpleMeterRegistry();
    ListAppender<ILoggingEvent> logs = captureLogs(RecordTask.class);
    IdempotentConsumer<String> consumer =
        start(
            config(name, name).build(),
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (calls.incrementAndGet() <= 2) {
                throw new IllegalStateException("flaky downstream");
              }
            },
            registry);
    send(List.of(record(name, 0, "acct", "t-1", "v")));
    awaitTrue(Duration.ofSeconds(60), "processed", () -> consumer.snapshot().processed() == 1);

    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(1);
    assertThat(count("SELECT attempt FROM " + effects)).isEqualTo(3);
    assertThat(
            registry
                .get("idem.records.retries")
                .tags("consumer", name, "topic", name)
                .counter()
                .count())
        .isEqualTo(2.0);
    assertThat(
            registry
                .get("idem.records.failures")
                .tags("consumer", name, "topic", name)
                .counter()
                .count())
        .isEqualTo(2.0);
    assertThat(
            registry
                .get("idem.records.processed")
                .tags("consumer", name, "topic", name)
                .counter()
                .count())
        .isEqualTo(1.0);

    ILoggingEvent retryLog =
        logs.list.stream()
            .filter(e -> e.getMessage().startsWith("attempt"))
            .findFirst()
            .orElseThrow();
    assertThat(retryLog.getMDCPropertyMap())
        .containsEntry("idem.consumer", name)
        .containsEntry("idem.record", name + "-0@0")
        .containsEntry("idem.event_id", "t-1");
    LoggerFactory.getLogger(getClass()); // keep the logger factory initialized
    ((Logger) LoggerFactory.getLogger(RecordTask.class)).detachAppender(logs);
  }

  private static ListAppender<ILoggingEvent> captureLogs(Class<?> type) {
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.start();
    ((Logger) LoggerFactory.getLogger(type)).addAppender(appender);
    return appender;
  }

  @Test
  void aRecordThatAlwaysFailsIsDeadLetteredToTableAndTopicWhileOtherKeysGoOn() throws Exception {
    String name = TestInfrastructure.uniqueName("alwaysfails");
    INFRA.createTopics(1, name, name + ".DLT");
    String effects = name + "_effects";
    createEffectsTable(effects);
    IdemConfig config =
        config(name, name)
            .concurrency(2)
            .deadLetterTopic("on")
            .retry(RetryPolicy.fixed(5, Duration.ofSeconds(1)))
            .build();
    IdempotentConsumer<String> consumer =
        start(
            config,
            (value, ctx) -> {
              if (value.equals("poison")) {
                throw new IllegalArgumentException("cannot apply " + ctx.eventId());
              }
              insertEffect(effects, value, ctx);
            },
            new SimpleMeterRegistry());
    List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records =
        new ArrayList<>();
    records.add(record(name, 0, "bad-account", "poison-1", "poison"));
    for (int i = 0; i < 5; i++) {
      records.add(record(name, 0, "good-" + i, "good-" + i, "fine"));
    }
    send(records);
    TopicPartition tp = new TopicPartition(name, 0);

    awaitTrue(
        Duration.ofSeconds(30),
        "other keys processed while the poison one retries",
        () -> consumer.snapshot().processed() == 5);
    assertThat(consumer.snapshot().deadLettered()).isZero();
    // Two commit intervals: the watermark must still stand at the poison record.
    stays(
        Duration.ofMillis(500),
        "nothing committed past the retrying record",
        () -> consumer.snapshot().committed().getOrDefault(tp, 0L) == 0);
    assertThat(committedOffsets(name).getOrDefault(tp, 0L)).isZero();

    awaitTrue(
        Duration.ofSeconds(30), "dead-lettered", () -> consumer.snapshot().deadLettered() == 1);
    awaitTrue(
        Duration.ofSeconds(30),
        "committed past it",
        () -> Long.valueOf(6).equals(consumer.snapshot().committed().get(tp)));
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT attempts, reason, exception_class, exception_message, kafka_offset,"
                    + " convert_from(record_key, 'UTF8'), convert_from(record_value, 'UTF8')"
                    + " FROM idem.dead_letters WHERE consumer_name = ?",
                name);
        ResultSet rs = ps.executeQuery()) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getInt(1)).isEqualTo(5);
      assertThat(rs.getString(2)).isEqualTo("handler-failed");
      assertThat(rs.getString(3)).isEqualTo(IllegalArgumentException.class.getName());
      assertThat(rs.getString(4)).isEqualTo("cannot apply poison-1");
      assertThat(rs.getLong(5)).isZero();
      assertThat(rs.getString(6)).isEqualTo("bad-account");
      assertThat(rs.getString(7)).isEqualTo("poison");
      assertThat(rs.next()).isFalse();
    }
    ConsumerRecord<byte[], byte[]> dlt = readOne(name + ".DLT");
    assertThat(new String(dlt.key(), StandardCharsets.UTF_8)).isEqualTo("bad-account");
    assertThat(new String(dlt.value(), StandardCharsets.UTF_8)).isEqualTo("poison");
    Map<String, String> headers = new HashMap<>();
    dlt.headers().forEach(h -> headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8)));
    assertThat(headers)
        .containsEntry("webhook-id", "poison-1")
        .containsEntry("idem.event-id", "poison-1")
        .containsEntry("idem.consumer", name)
        .containsEntry("idem.attempts", "5")
        .containsEntry("idem.reason", "handler-failed")
        .containsEntry("idem.error", "java.lang.IllegalArgumentException: cannot apply poison-1")
        .containsEntry("idem.origin", name + "-0@0");

    send(List.of(record(name, 0, "bad-account", "poison-1", "poison")));
    awaitTrue(
        Duration.ofSeconds(30), "later copy skipped", () -> consumer.snapshot().duplicates() == 1);
    assertThat(consumer.snapshot().deadLettered()).isEqualTo(1);
  }

  @Test
  void unreadableRecordsAreDeadLetteredWithTheirReasonAndTheConsumerGoesOn() throws Exception {
    String name = TestInfrastructure.uniqueName("unreadable");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    IdempotentConsumer<com.fasterxml.jackson.databind.JsonNode> consumer =
        closeLater(
            consumerBuilder(config(name, name).build(), Payloads.jsonTree(), closeLater(pool(3)))
                .handler((value, ctx) -> insertEffect(effects, value.toString(), ctx))
                .build());
    consumer.start();
    send(
        List.of(
            record(name, 0, "k", "json-1", "{not json"),
            record(name, 0, "k", null, "{\"a\":1}"),
            record(name, 0, "k", "y".repeat(600), "{\"a\":2}"),
            record(name, 0, "k", "json-2", "{\"a\":3}")));
    awaitTrue(
        Duration.ofSeconds(60),
        "handled",
        () -> consumer.snapshot().deadLettered() == 3 && consumer.snapshot().processed() == 1);
    Map<String, String> reasons = new HashMap<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT coalesce(event_id, topic || '-' || kafka_partition || '@' || kafka_offset),"
                    + " reason, has_event_id FROM idem.dead_letters"
                    + " WHERE consumer_name = ?",
                name);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        reasons.put(rs.getString(1), rs.getString(2) + "/" + rs.getBoolean(3));
      }
    }
    assertThat(reasons)
        .containsEntry("json-1", "undeserializable/true")
        .containsEntry(name + "-0@1", "invalid-event-id/false")
        .containsEntry(name + "-0@2", "invalid-event-id/false")
        .hasSize(3);
    assertThat(strings("SELECT event_id FROM " + effects)).containsExactly("json-2");
    assertThat(consumer.snapshot().state()).isEqualTo(ConsumerState.RUNNING);
  }

  @Test
  void aFailingDeadLetterWriteIsRetriedAndTheRecordIsNeverSkipped() throws Exception {
    String name = TestInfrastructure.uniqueName("dlfail");
    String schema = name + "_s";
    INFRA.createTopics(1, name);
    IdempotentConsumer<String> consumer =
        start(
            config(name, name)
                .schema(schema)
                .retry(RetryPolicy.fixed(2, Duration.ofMillis(50)))
                .build(),
            (value, ctx) -> {
              throw new IllegalStateException("always");
            },
            new SimpleMeterRegistry());
    sql("ALTER TABLE " + schema + ".dead_letters RENAME TO dead_letters_away");
    send(List.of(record(name, 0, "k", "dl-1", "v")));
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(30), "tried and failed", () -> consumer.snapshot().failures() >= 2);
    stays(
        Duration.ofSeconds(1),
        "dead-letter writes keep failing, the record stays in flight, nothing committed",
        () ->
            consumer.snapshot().deadLettered() == 0
                && consumer.snapshot().inFlight() == 1
                && !consumer.snapshot().committed().containsKey(tp));
    assertThat(committedOffsets(name)).doesNotContainKey(tp);

    sql("ALTER TABLE " + schema + ".dead_letters_away RENAME TO dead_letters");
    awaitTrue(
        Duration.ofSeconds(60),
        "dead-lettered once the table is back",
        () -> consumer.snapshot().deadLettered() == 1);
    awaitTrue(
        Duration.ofSeconds(30),
        "committed past it",
        () -> Long.valueOf(1).equals(consumer.snapshot().committed().get(tp)));
    assertThat(count("SELECT count(*) FROM " + schema + ".dead_letters")).isEqualTo(1);
  }

  @Test
  void aDeadLetterTopicThatIsMissingHoldsTheRecordUntilItExists() throws Exception {
    String name = TestInfrastructure.uniqueName("dltmissing");
    INFRA.createTopics(1, name);
    IdempotentConsumer<String> consumer =
        start(
            config(name, name)
                .deadLetterTopic("{topic}.dead")
                .retry(RetryPolicy.fixed(1, Duration.ofMillis(50)))
                .build(),
            (value, ctx) -> {
              throw new NonRetryableException("never");
            },
            new SimpleMeterRegistry());
    send(List.of(record(name, 0, "k", "dlt-1", "v")));
    awaitTrue(Duration.ofSeconds(30), "failed", () -> consumer.snapshot().failures() >= 1);
    stays(
        Duration.ofMillis(1500),
        "no dead letter while its topic is missing",
        () -> consumer.snapshot().deadLettered() == 0 && deadLettersQuietly(name) == 0);
    INFRA.createTopics(1, name + ".dead");
    awaitTrue(
        Duration.ofSeconds(60), "dead-lettered", () -> consumer.snapshot().deadLettered() == 1);
    assertThat(readOne(name + ".dead").headers().lastHeader("idem.event-id").value())
        .isEqualTo("dlt-1".getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void replayAppliesDeadLettersOnceAndASecondReplayDoesNothing(@TempDir Path dir) throws Exception {
    String name = TestInfrastructure.uniqueName("replay");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    Set<String> broken = ConcurrentHashMap.newKeySet();
    broken.add("r-1");
    broken.add("r-2");
    IdemConfig config =
        config(name, name).retry(RetryPolicy.fixed(2, Duration.ofMillis(20))).build();
    IdempotentConsumer<String> consumer =
        start(
            config,
            (value, ctx) -> {
              if (broken.contains(ctx.eventId())) {
                throw new IllegalStateException("not yet");
              }
              insertEffect(effects, value, ctx);
            },
            new SimpleMeterRegistry());
    send(
        List.of(
            record(name, 0, "a", "r-1", "one"),
            record(name, 1, "b", "r-2", "two"),
            record(name, 0, "c", "r-3", "three")));
    awaitTrue(
        Duration.ofSeconds(60),
        "two dead letters",
        () -> consumer.snapshot().deadLettered() == 2 && consumer.snapshot().processed() == 1);
    broken.clear(); // the bug is fixed

    DeadLetterReplayer.Result first;
    try (HikariDataSource pool = pool(2);
        DeadLetterReplayer replayer = DeadLetterReplayer.create(config, pool)) {
      first = replayer.replay(DeadLetterReplayer.Request.all(100));
    }
    assertThat(first.replayed()).containsExactlyInAnyOrder("r-1", "r-2");
    assertThat(first.failed()).isEmpty();
    awaitTrue(
        Duration.ofSeconds(60),
        "replayed events applied",
        () -> consumer.snapshot().processed() == 3);

    Path file = dir.resolve("idem.properties");
    Files.writeString(
        file,
        String.join(
            "\n",
            "consumer.name=" + name,
            "consumer.topics=" + name,
            "kafka.bootstrap.servers=" + bootstrap(),
            "pg.url=" + INFRA.postgres().jdbcUrl(),
            "pg.user=" + INFRA.postgres().user(),
            "pg.password=" + INFRA.postgres().password()));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int exit =
        ReplayDeadLetters.run(
            new String[] {"--config", file.toString()},
            Map.of(),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            System.err);
    assertThat(exit).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("replayed 0 dead letters of " + name);

    stays(
        Duration.ofMillis(500),
        "nothing applied again",
        () -> countQuietly("SELECT count(*) FROM " + effects) == 3);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(3);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(3);
    assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
        .isZero();
  }

  @Test
  void aDeadLetterWithNulInAHeaderKeyOrInItsErrorIsWrittenAndReplaysItsHeaders() throws Exception {
    // jsonb cannot hold \u0000 and text cannot hold NUL: such a dead letter used to fail to write
    // on every retry, and its partition never moved again.
    String name = TestInfrastructure.uniqueName("nulheader");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    AtomicInteger failing = new AtomicInteger(1);
    Map<String, String> seenHeaders = new ConcurrentHashMap<>();
    IdemConfig config =
        config(name, name).retry(RetryPolicy.fixed(2, Duration.ofMillis(20))).build();
    IdempotentConsumer<String> consumer =
        start(
            config,
            (value, ctx) -> {
              if (ctx.eventId().equals("nul-1")) {
                if (failing.get() == 1) {
                  throw new IllegalStateException("cannot\0apply");
                }
                ctx.headers()
                    .forEach(
                        h ->
                            seenHeaders.put(
                                h.key(), new String(h.value(), StandardCharsets.UTF_8)));
              }
              insertEffect(effects, value, ctx);
            },
            new SimpleMeterRegistry());
    org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> r =
        record(name, 0, "k", "nul-1", "v");
    r.headers().add("x\0y", "odd".getBytes(StandardCharsets.UTF_8));
    send(List.of(r, record(name, 0, "k", "after-1", "w")));
    awaitTrue(
        Duration.ofSeconds(30),
        "dead-lettered, and the next record of the key applied",
        () -> consumer.snapshot().deadLettered() == 1 && consumer.snapshot().processed() == 1);
    assertThat(
            strings(
                "SELECT exception_message FROM idem.dead_letters WHERE consumer_name = ?", name))
        .containsExactly("cannot\ufffdapply");

    failing.set(0);
    try (HikariDataSource pool = pool(2);
        DeadLetterReplayer replayer = DeadLetterReplayer.create(config, pool)) {
      assertThat(replayer.replay(DeadLetterReplayer.Request.all(10)).replayed())
          .containsExactly("nul-1");
    }
    awaitTrue(Duration.ofSeconds(30), "replayed", () -> consumer.snapshot().processed() == 2);
    assertThat(seenHeaders).containsEntry("x\0y", "odd").containsEntry("webhook-id", "nul-1");
  }

  @Test
  void theReplayCommandRefusesBadArguments() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
    assertThat(ReplayDeadLetters.run(new String[] {}, Map.of(), System.out, errStream))
        .isEqualTo(2);
    assertThat(ReplayDeadLetters.run(new String[] {"--limit"}, Map.of(), System.out, errStream))
        .isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("--config is required")
        .contains("--limit needs a value");
  }

  @Test
  void theDocumentedMetersExistWithTheirTags() throws Exception {
    String name = TestInfrastructure.uniqueName("meters");
    INFRA.createTopics(1, name);
    MeterRegistry registry = new SimpleMeterRegistry();
    IdempotentConsumer<String> consumer =
        start(config(name, name).build(), (value, ctx) -> {}, registry);
    send(List.of(record(name, 0, "k", "m-1", "v"), record(name, 0, "k", "m-1", "v")));
    awaitTrue(
        Duration.ofSeconds(60),
        "handled",
        () -> consumer.snapshot().processed() == 1 && consumer.snapshot().duplicates() == 1);
    awaitTrue(
        Duration.ofSeconds(10),
        "lag gauge",
        () ->
            registry
                    .find("idem.consumer.lag")
                    .tags("consumer", name, "topic", name, "partition", "0")
                    .gauge()
                != null);
    for (String counter :
        List.of(
            "idem.records.processed",
            "idem.records.duplicates",
            "idem.records.failures",
            "idem.records.retries",
            "idem.records.dead.lettered")) {
      assertThat(registry.find(counter).tags("consumer", name, "topic", name).counter())
          .as(counter)
          .isNotNull();
    }
    for (String timer : List.of("idem.lock.wait", "idem.handler.time", "idem.transaction.time")) {
      assertThat(registry.find(timer).tags("consumer", name, "topic", name).timer())
          .as(timer)
          .isNotNull();
    }
    assertThat(registry.get("idem.records.duplicates").tags("consumer", name).counter().count())
        .isEqualTo(1.0);
    assertThat(registry.get("idem.handler.time").tags("consumer", name).timer().count())
        .isEqualTo(1);
    assertThat(registry.find("idem.records.in.flight").tags("consumer", name).gauge()).isNotNull();
    ConsumerHealth health = consumer.health();
    assertThat(health.healthy()).isTrue();
    assertThat(health.assigned()).containsExactly(new TopicPartition(name, 0));
  }

  private static long deadLettersQuietly(String consumer) {
    return countQuietly("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", consumer);
  }
}
