package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class IdemConfigTest {

  private static IdemConfig.Builder valid() {
    return IdemConfig.builder("ledger").bootstrapServers("localhost:9092").topics("payments");
  }

  private static void refused(UnaryOperator<IdemConfig.Builder> change, String key, String text) {
    assertThatThrownBy(() -> change.apply(valid()).build())
        .isInstanceOf(IdemConfigException.class)
        .satisfies(e -> assertThat(((IdemConfigException) e).key()).isEqualTo(key))
        .hasMessageContaining(text);
  }

  @Test
  void idemOwnsTheKafkaSettingsTheContractDependsOn() {
    IdemConfig config = valid().build();
    assertThat(config.kafka())
        .containsEntry("enable.auto.commit", "false")
        .containsEntry("auto.offset.reset", "earliest")
        .containsEntry("isolation.level", "read_committed")
        .containsEntry("group.id", "ledger");
    assertThat(config.lockNamespace()).isEqualTo("ledger");
    assertThat(config.schema()).isEqualTo("idem");
    assertThat(config.concurrency()).isEqualTo(1);
  }

  @Test
  void autoCommitTrueIsRefused() {
    refused(
        b -> b.kafka("enable.auto.commit", "true"),
        "kafka.enable.auto.commit",
        "idem commits offsets after the database commit; remove the setting");
  }

  @Test
  void autoCommitFalseIsAccepted() {
    assertThat(valid().kafka("enable.auto.commit", "false").build().kafka())
        .containsEntry("enable.auto.commit", "false");
  }

  @Test
  void readUncommittedKafkaIsolationIsRefused() {
    refused(
        b -> b.kafka("isolation.level", "read_uncommitted"),
        "kafka.isolation.level",
        "aborted producer transactions");
  }

  @ParameterizedTest
  @CsvSource({"serializable", "repeatable read", "read uncommitted"})
  void databaseIsolationOtherThanReadCommittedIsRefused(String level) {
    refused(
        b -> b.set("consumer.transaction-isolation", level),
        "consumer.transaction-isolation",
        "only READ COMMITTED does");
  }

  @Test
  void missingNameTopicsOrBrokersAreRefused() {
    assertThatThrownBy(() -> IdemConfig.builder(" ").bootstrapServers("b:1").topics("t").build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("consumer.name:");
    refused(b -> b.topics(), "consumer.topics", "name at least one topic");
    refused(b -> b.topics("bad topic!"), "consumer.topics", "not a valid Kafka topic name");
    assertThatThrownBy(() -> IdemConfig.builder("x").topics("t").build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("kafka.bootstrap.servers: is missing");
  }

  @Test
  void ownDeserializersAreRefused() {
    refused(
        b -> b.kafka("value.deserializer", "org.example.Foo"),
        "kafka.value.deserializer",
        "PayloadDeserializer");
  }

  @Test
  void settingsTheConsumerGroupProtocolRejectsAreRefused() {
    refused(
        b -> b.kafka("group.protocol", "consumer").kafka("session.timeout.ms", "6000"),
        "kafka.session.timeout.ms",
        "rejected by group.protocol=consumer");
    refused(
        b ->
            b.kafka("group.protocol", "consumer")
                .kafka(
                    "partition.assignment.strategy",
                    "org.apache.kafka.clients.consumer.RangeAssignor"),
        "kafka.partition.assignment.strategy",
        "group.remote.assignor");
    assertThat(valid().kafka("session.timeout.ms", "6000").build().kafka())
        .containsEntry("session.timeout.ms", "6000");
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {"web 1", "''", "..", "web/1", "' web-1'"})
  void aGroupInstanceIdKafkaWouldRefuseIsRefusedAtBuildInsteadOfOnThePollThread(String id) {
    // Kafka checks the id only when the client is created, on the poll thread, after start().
    refused(
        b -> b.kafka("group.instance.id", id),
        "kafka.group.instance.id",
        "use 1 to 249 of a-z A-Z 0-9 . _ -");
  }

  @Test
  void staticMembershipIsRefusedWithTheConsumerGroupProtocol() {
    // There a crashed static member cannot be replaced: the restarted instance is refused with
    // UNRELEASED_INSTANCE_ID, fatal for the client, until the dead member's session expired.
    refused(
        b -> b.kafka("group.protocol", "consumer").kafka("group.instance.id", "web-1"),
        "kafka.group.instance.id",
        "use group.protocol=classic");
    assertThat(valid().kafka("group.instance.id", "web-1.ledger_2").build().kafka())
        .containsEntry("group.instance.id", "web-1.ledger_2");
  }

  @Test
  void drainTimeoutMustBeShorterThanMaxPollInterval() {
    refused(
        b -> b.kafka("max.poll.interval.ms", "5000").drainTimeout(Duration.ofSeconds(5)),
        "consumer.drain-timeout",
        "must be shorter than kafka.max.poll.interval.ms");
  }

  @Test
  void abandonedWorkersDefaultToTheConcurrencyAndARefusedCapNamesItsKey() {
    assertThat(valid().build().maxAbandonedWorkers()).isEqualTo(1);
    assertThat(valid().concurrency(8).build().maxAbandonedWorkers()).isEqualTo(8);
    assertThat(valid().concurrency(8).maxAbandonedWorkers(0).build().maxAbandonedWorkers())
        .isZero();
    assertThat(valid().build().describe()).contains("consumer.max-abandoned-workers=1");
    refused(
        b -> b.maxAbandonedWorkers(-1),
        "consumer.max-abandoned-workers",
        "use a number from 0 to 10000");
    refused(
        b -> b.set("consumer.max-abandoned-workers", "all"),
        "consumer.max-abandoned-workers",
        "is not a whole number");
  }

  @Test
  void badNumbersAndDurationsNameTheirKey() {
    refused(
        b -> b.set("consumer.concurrency", "many"),
        "consumer.concurrency",
        "is not a whole number");
    refused(b -> b.set("consumer.concurrency", "0"), "consumer.concurrency", "out of range");
    refused(
        b -> b.set("consumer.lock-timeout", "5 parsecs"),
        "consumer.lock-timeout",
        "is not a duration");
    refused(
        b -> b.set("consumer.commit-interval", "0ms"),
        "consumer.commit-interval",
        "must be positive");
    refused(
        b -> b.set("consumer.retry.max-attempts", "0"),
        "consumer.retry.max-attempts",
        "out of range");
    refused(b -> b.set("consumer.retry.jitter", "2"), "consumer.retry.jitter", "between 0 and 1");
    refused(
        b -> b.kafka("max.poll.records", "lots"),
        "kafka.max.poll.records",
        "correct or remove kafka.max.poll.records");
  }

  @Test
  void durationsTooLongToCountInNanosecondsAreRefusedByName() {
    // Was an ArithmeticException from the drain-timeout check (toMillis overflowed).
    refused(
        b -> b.set("consumer.drain-timeout", "9999999999999d"),
        "consumer.drain-timeout",
        "is too long; use at most 106751d");
    refused(
        b -> b.set("consumer.retry.max-backoff", "P999999999D"),
        "consumer.retry.max-backoff",
        "is too long");
    // The typed setters print the duration first; that overflowed too.
    refused(
        b -> b.commitInterval(Duration.ofSeconds(Long.MAX_VALUE)),
        "consumer.commit-interval",
        "is too long");
    assertThat(valid().set("consumer.retention.window", "106751d").build().retentionWindow())
        .isEqualTo(Duration.ofDays(106751));
  }

  @Test
  void durationsWithAFractionOfAMillisecondAreRefused() {
    // PT0.0005S used to pass as positive and reach PostgreSQL as lock_timeout = '0ms': no timeout.
    refused(
        b -> b.set("consumer.lock-timeout", "PT0.0005S"),
        "consumer.lock-timeout",
        "use whole milliseconds");
    refused(
        b -> b.handlerTimeout(Duration.ofNanos(1_500_000)),
        "consumer.handler-timeout",
        "a fraction of a millisecond");
    assertThat(valid().set("consumer.lock-timeout", "PT0.25S").build().lockTimeout())
        .isEqualTo(Duration.ofMillis(250));
  }

  @Test
  void timeoutsBeyondWhatPostgresAcceptsAreRefused() {
    // PostgreSQL takes lock_timeout, statement_timeout and transaction_timeout (their sum) as int
    // milliseconds; 25 days used to pass and fail every transaction at set_config.
    refused(
        b -> b.set("consumer.handler-timeout", "25d"),
        "consumer.handler-timeout",
        "over PostgreSQL's limit");
    refused(
        b -> b.lockTimeout(Duration.ofDays(13)).handlerTimeout(Duration.ofDays(13)),
        "consumer.handler-timeout",
        "about 24 days");
    IdemConfig ok =
        valid().lockTimeout(Duration.ofDays(12)).handlerTimeout(Duration.ofDays(12)).build();
    assertThat(ok.lockTimeout().plus(ok.handlerTimeout()).toMillis()).isLessThan(Integer.MAX_VALUE);
  }

  @Test
  void nullValuesAreRefusedByName() {
    // Each was a NullPointerException at build, or at Map.copyOf for Kafka properties.
    for (String key :
        java.util.List.of(
            "consumer.schema",
            "consumer.lock-namespace",
            "consumer.dead-letter-topic",
            "consumer.transaction-isolation",
            "consumer.retention.window")) {
      refused(b -> b.set(key, null), key, "is null; give it a value or leave the setting out");
    }
    refused(b -> b.kafka("session.timeout.ms", null), "kafka.session.timeout.ms", "is null");
    refused(b -> b.set("kafka.client.rack", null), "kafka.client.rack", "is null");
  }

  @Test
  void aDeadLetterTopicThatIsAConsumedTopicIsRefused() {
    // {topic} alone used to send dead letters back into the topic they came from.
    refused(
        b -> b.deadLetterTopic("{topic}"),
        "consumer.dead-letter-topic",
        "a topic this consumer reads");
    refused(
        b -> b.topics("payments", "payments.DLT").deadLetterTopic("on"),
        "consumer.dead-letter-topic",
        "payments.DLT, a topic this consumer reads");
    refused(
        b -> b.topics("t".repeat(249)).deadLetterTopic("on"),
        "consumer.dead-letter-topic",
        "not a valid topic name");
    assertThat(valid().deadLetterTopic("dead-letters").build().deadLetterTopicFor("payments"))
        .isEqualTo("dead-letters");
  }

  @Test
  void topicNamesKafkaRefusesAreRefused() {
    refused(b -> b.topics("."), "consumer.topics", "not a valid Kafka topic name");
    refused(b -> b.topics(".."), "consumer.topics", "not a valid Kafka topic name");
    assertThat(valid().topics("...").build().topics()).containsExactly("...");
  }

  @Test
  void consumerNamesWithControlCharactersAreRefusedUnderTheirOwnKey() {
    // "\0" used to trim to "" and be reported as a blank consumer.lock-namespace; "x\0y" was
    // accepted and failed at the first insert (PostgreSQL text cannot hold NUL).
    for (String name : new String[] {"\0", "x\0y", "a\nb"}) {
      assertThatThrownBy(() -> IdemConfig.builder(name).bootstrapServers("b:1").topics("t").build())
          .isInstanceOf(IdemConfigException.class)
          .satisfies(e -> assertThat(((IdemConfigException) e).key()).isEqualTo("consumer.name"));
    }
  }

  @Test
  void lockTimeoutMayNotExceedHandlerTimeout() {
    refused(
        b -> b.lockTimeout(Duration.ofMinutes(5)).handlerTimeout(Duration.ofMinutes(1)),
        "consumer.lock-timeout",
        "must not exceed consumer.handler-timeout");
  }

  @Test
  void identifiersThatAreNotPlainSqlNamesAreRefused() {
    refused(b -> b.schema("idem; DROP TABLE x"), "consumer.schema", "lower-case SQL identifier");
    refused(
        b -> b.set("consumer.processed-table", "Processed"),
        "consumer.processed-table",
        "lower-case SQL identifier");
  }

  @Test
  void poolMustHoldConcurrencyPlusTwoConnections() {
    refused(
        b -> b.concurrency(8).database("jdbc:postgresql://h/db", "u", "p", 9),
        "pg.pool-size",
        "at least concurrency + 2 = 10");
    refused(b -> b.database("mysql://h/db", "u", "p", 5), "pg.url", "PostgreSQL JDBC URL");
  }

  @Test
  void aHikariPoolSmallerThanConcurrencyPlusTwoIsRefusedAtBuild() {
    com.zaxxer.hikari.HikariDataSource pool = new com.zaxxer.hikari.HikariDataSource();
    pool.setMaximumPoolSize(5);
    assertThatThrownBy(
            () ->
                IdempotentConsumer.builder(valid().concurrency(4).build(), Payloads.utf8())
                    .dataSource(pool)
                    .eventIds(EventIds.recordKey())
                    .handler((e, ctx) -> {})
                    .build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("needs at least concurrency + 2 = 6");
    pool.close();
  }

  @Test
  void inFlightBoundMustHoldOnePoll() {
    refused(b -> b.maxInFlight(100), "consumer.max-in-flight", "below kafka.max.poll.records");
    assertThat(valid().maxInFlight(100).kafka("max.poll.records", 100).build().maxInFlight())
        .isEqualTo(100);
  }

  @Test
  void unknownKeysAreRefused() {
    refused(b -> b.set("consumer.lock-timout", "5s"), "consumer.lock-timout", "unknown setting");
  }

  @Test
  void theDescriptionMasksSecrets() {
    String text =
        valid()
            .database("jdbc:postgresql://h/db", "u", "s3cret", 5)
            .kafka("sasl.jaas.config", "user=\"u\" password=\"p\"")
            .build()
            .describe();
    assertThat(text).doesNotContain("s3cret").doesNotContain("password=\"p\"");
    assertThat(text).contains("pg.password=****").contains("consumer.name=ledger");
  }

  @Test
  void theDescriptionAndTheDatabaseSettingsMaskCredentialsInsideTheUrl() {
    IdemConfig config =
        valid()
            .database(
                "jdbc:postgresql://bob:hunter2@db:5432/app?sslmode=require&password=hunter3"
                    + "&sslpassword=hunter4&user=bob",
                "u",
                "s3cret",
                5)
            .build();
    for (String text : new String[] {config.describe(), config.database().toString()}) {
      assertThat(text)
          .doesNotContain("hunter2")
          .doesNotContain("hunter3")
          .doesNotContain("hunter4")
          .contains("jdbc:postgresql://bob:****@db:5432/app?sslmode=require&password=****");
    }
  }

  @Test
  void propertiesFilesLoadWithEnvironmentOverrides(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("idem.properties");
    Files.writeString(
        file,
        String.join(
            "\n",
            "consumer.name=ledger",
            "consumer.topics=a, b",
            "consumer.lock-timeout=5s",
            "kafka.bootstrap.servers=from-file:9092",
            "pg.url=jdbc:postgresql://file/db",
            "pg.pool-size=6"));
    IdemConfig config =
        IdemConfig.load(
                file,
                Map.of(
                    "KAFKA_BOOTSTRAP_SERVERS", "from-env:9092",
                    "IDEM_CONSUMER_LOCK_TIMEOUT", "7s",
                    "IDEM_CONSUMER_CONCURRENCY", "4",
                    "PG_PASSWORD", "pw",
                    "IDEM_KAFKA_MAX_POLL_RECORDS", "250"))
            .build();
    assertThat(config.topics()).containsExactly("a", "b");
    assertThat(config.kafka())
        .containsEntry("bootstrap.servers", "from-env:9092")
        .containsEntry("max.poll.records", "250");
    assertThat(config.lockTimeout()).isEqualTo(Duration.ofSeconds(7));
    assertThat(config.concurrency()).isEqualTo(4);
    assertThat(config.database().password()).isEqualTo("pw");
    assertThat(config.database().poolSize()).isEqualTo(6);
  }

  @Test
  void yamlFilesLoadNestedKeys(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("idem.yaml");
    Files.writeString(
        file,
        String.join(
            "\n",
            "consumer:",
            "  name: ledger",
            "  topics: [a, b]",
            "  retry:",
            "    max-attempts: 3",
            "kafka:",
            "  bootstrap.servers: y:9092"));
    IdemConfig config = IdemConfig.load(file, Map.of()).build();
    assertThat(config.topics()).containsExactly("a", "b");
    assertThat(config.retry().maxAttempts()).isEqualTo(3);
    assertThat(config.kafka()).containsEntry("bootstrap.servers", "y:9092");
  }

  @Test
  void aBadValueInAFileNamesItsKey(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("idem.properties");
    Files.writeString(
        file,
        "consumer.name=x\nconsumer.topics=t\nkafka.bootstrap.servers=b:1\n"
            + "consumer.handler-timeout=soon\n");
    assertThatThrownBy(() -> IdemConfig.load(file, Map.of()).build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessage(
            "consumer.handler-timeout: 'soon' is not a duration; write e.g. 250ms, 30s,"
                + " 5m, 1h, 7d or PT30S");
  }

  @Test
  void aConsumerWithoutEventIdExtractorIsRefusedAtBuild() {
    assertThatThrownBy(
            () ->
                IdempotentConsumer.builder(valid().build(), Payloads.utf8())
                    .handler((e, ctx) -> {})
                    .dataSource(new org.postgresql.ds.PGSimpleDataSource())
                    .build())
        .isInstanceOf(IdemConfigException.class)
        .satisfies(e -> assertThat(((IdemConfigException) e).key()).isEqualTo("eventIds"))
        .hasMessageContaining("EventIds.header");
  }

  @Test
  void retryPolicyDelaysGrowAndStayWithinTheirBounds() {
    RetryPolicy policy = new RetryPolicy(5, Duration.ofMillis(100), Duration.ofMillis(500), 2, 0);
    assertThat(policy.delayAfter(1)).isEqualTo(Duration.ofMillis(100));
    assertThat(policy.delayAfter(2)).isEqualTo(Duration.ofMillis(200));
    assertThat(policy.delayAfter(4)).isEqualTo(Duration.ofMillis(500));
    assertThat(policy.allowsAttemptAfter(4)).isTrue();
    assertThat(policy.allowsAttemptAfter(5)).isFalse();
    RetryPolicy jittered =
        RetryPolicy.exponential(5, Duration.ofMillis(100), Duration.ofSeconds(1));
    for (int i = 0; i < 100; i++) {
      assertThat(jittered.delayAfter(2)).isBetween(Duration.ofMillis(160), Duration.ofMillis(200));
    }
  }

  @Test
  void theRetentionCheckSettingsHaveDefaultsThatPassKafkasDefaultTopics() {
    IdemConfig config = valid().build();
    // Kafka's default topic can deliver a record for 14d 5m (7d retention + 7d segments + 5 min).
    assertThat(config.retentionWindow()).isEqualTo(Duration.ofDays(15));
    assertThat(config.retentionAllowShorterThanTopic()).isFalse();
    assertThat(config.retentionTopicCheckTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(config.describe())
        .contains("consumer.retention.allow-shorter-than-topic=false")
        .contains("consumer.retention.topic-check-timeout=PT10S");
    IdemConfig changed =
        valid()
            .retentionAllowShorterThanTopic(true)
            .retentionTopicCheckTimeout(Duration.ofSeconds(2))
            .build();
    assertThat(changed.retentionAllowShorterThanTopic()).isTrue();
    assertThat(changed.retentionTopicCheckTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(
            valid()
                .set("consumer.retention.allow-shorter-than-topic", " TRUE ")
                .build()
                .retentionAllowShorterThanTopic())
        .isTrue();
  }

  @Test
  void theRetentionEscapeSettingTakesOnlyTrueOrFalse() {
    for (String value : java.util.List.of("yes", "1", "on", "", "truee")) {
      refused(
          b -> b.set("consumer.retention.allow-shorter-than-topic", value),
          "consumer.retention.allow-shorter-than-topic",
          "is not a boolean; write true or false");
    }
  }

  @Test
  void aTopicCheckTimeoutThatWouldHoldStartForLongIsRefused() {
    refused(
        b -> b.retentionTopicCheckTimeout(Duration.ofMinutes(11)),
        "consumer.retention.topic-check-timeout",
        "use at most 10m");
    refused(
        b -> b.set("consumer.retention.topic-check-timeout", "0s"),
        "consumer.retention.topic-check-timeout",
        "must be positive");
  }
}
