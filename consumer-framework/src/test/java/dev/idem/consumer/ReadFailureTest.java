package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Failures of the payload deserializer and the event-id extractor: a registry that is down is
 * waited out, malformed input is dead-lettered at once, and neither lets a record overtake an
 * earlier one of its partition in batch mode.
 */
class ReadFailureTest {
  @RegisterExtension final Closer closer = new Closer();

  /** Fails like a schema-registry client whose registry refuses connections, until a deadline. */
  private static PayloadDeserializer<String> registryDownUntil(long deadlineNanos, long offset) {
    return record -> {
      if ((offset < 0 || record.offset() == offset) && System.nanoTime() < deadlineNanos) {
        throw new SerializationException(
            "Error retrieving schema for " + record.topic(),
            new ConnectException("Connection refused"));
      }
      return new String(record.value(), StandardCharsets.UTF_8);
    };
  }

  @Test
  void aDeserializerWhoseRegistryIsDownForFiveSecondsAppliesEveryRecordOnceItIsBack()
      throws Exception {
    String name = TestInfrastructure.uniqueName("registrydown");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      records.add(record(name, i % 2, "k" + i, "rd-" + i, "v" + i));
    }
    long down = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(
                    config(name, name).concurrency(2).build(),
                    registryDownUntil(down, -1),
                    closer.add(pool(4)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .build());
    consumer.start();
    send(records);
    awaitTrue(
        Duration.ofSeconds(60),
        "all 20 applied",
        () -> consumer.snapshot().processed() == 20 || consumer.snapshot().deadLettered() > 0);

    assertThat(consumer.snapshot().deadLettered()).isZero();
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(20);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(20);
    assertThat(consumer.snapshot().retries())
        .as("the records waited for the registry")
        .isPositive();
    assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
        .isZero();
  }

  @Test
  void malformedJsonIsDeadLetteredAtOnceWithoutRetries() throws Exception {
    String name = TestInfrastructure.uniqueName("malformed");
    INFRA.createTopics(1, name);
    IdempotentConsumer<com.fasterxml.jackson.databind.JsonNode> consumer =
        closer.add(
            consumerBuilder(config(name, name).build(), Payloads.jsonTree(), closer.add(pool(3)))
                .handler((value, ctx) -> {})
                .build());
    consumer.start();
    awaitAssigned(consumer);
    send(
        List.of(
            record(name, 0, "k", "mj-1", "{\"amount\": 1"), record(name, 0, "k", "mj-2", "{}")));
    awaitTrue(
        Duration.ofSeconds(10),
        "dead-lettered and the next one processed",
        () -> consumer.snapshot().deadLettered() == 1 && consumer.snapshot().processed() == 1);

    assertThat(consumer.snapshot().retries()).isZero();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT event_id, reason, attempts FROM idem.dead_letters WHERE consumer_name = ?",
                name);
        ResultSet rs = ps.executeQuery()) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("mj-1");
      assertThat(rs.getString(2)).isEqualTo("undeserializable");
      assertThat(rs.getInt(3)).isEqualTo(1);
    }
  }

  @Test
  void inBatchModeARecordThatCannotBeReadYetIsNotAppliedAheadOfEarlierRecords() throws Exception {
    String name = TestInfrastructure.uniqueName("readorder");
    INFRA.createTopics(1, name);
    String applied = name + "_applied";
    sql("CREATE TABLE " + applied + " (seq bigserial PRIMARY KEY, kafka_offset bigint NOT NULL)");
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      records.add(record(name, 0, "acct", "ro-" + i, "v" + i));
    }
    send(records); // all there before the consumer starts: one poll, one group
    // Record 5 cannot be read the first time only: the registry answers again right after.
    java.util.concurrent.atomic.AtomicInteger reads =
        new java.util.concurrent.atomic.AtomicInteger();
    PayloadDeserializer<String> flaky =
        record -> {
          if (record.offset() == 5 && reads.incrementAndGet() == 1) {
            throw new SerializationException(
                "Error retrieving schema", new ConnectException("Connection refused"));
          }
          return new String(record.value(), StandardCharsets.UTF_8);
        };
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config(name, name).batchSize(10).build(), flaky, closer.add(pool(3)))
                .batchHandler(
                    (events, ctx) -> {
                      try (PreparedStatement ps =
                          ctx.connection()
                              .prepareStatement(
                                  "INSERT INTO " + applied + " (kafka_offset) VALUES (?)")) {
                        for (BatchEvent<String> e : events) {
                          ps.setLong(1, e.offset());
                          ps.executeUpdate();
                        }
                      }
                    })
                .build());
    consumer.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "all handled",
        () -> consumer.snapshot().processed() + consumer.snapshot().deadLettered() >= 10);

    List<Long> order = new ArrayList<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT kafka_offset FROM " + applied + " ORDER BY seq")) {
      while (rs.next()) {
        order.add(rs.getLong(1));
      }
    }
    assertThat(order).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L);
    assertThat(consumer.snapshot().deadLettered()).isZero();
  }
}
