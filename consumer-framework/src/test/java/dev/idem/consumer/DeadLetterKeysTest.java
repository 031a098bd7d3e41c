package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.lock.internal.SchemaMigrator;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Dead letters of records without a usable event id are kept apart from event ids: they can neither
 * make a real event a duplicate nor be taken for another record at the same offset.
 */
class DeadLetterKeysTest {
  @RegisterExtension final Closer closer = new Closer();

  private IdempotentConsumer<String> start(IdemConfig config, String effects) {
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(3)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .build());
    consumer.start();
    return consumer;
  }

  @Test
  void aRealEventWhoseIdLooksLikeTheCoordinatesOfARecordWithoutIdIsApplied() throws Exception {
    String name = TestInfrastructure.uniqueName("dlkeys");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    IdempotentConsumer<String> consumer = start(config(name, name).build(), effects);
    // Offset 0 has no event id; offset 1 is an event whose id happens to read "<topic>-0@0".
    send(List.of(record(name, 0, "k", null, "no id"), record(name, 0, "k", name + "-0@0", "real")));
    awaitTrue(
        Duration.ofSeconds(60),
        "both handled",
        () ->
            consumer.snapshot().deadLettered()
                    + consumer.snapshot().processed()
                    + consumer.snapshot().duplicates()
                == 2);

    assertThat(consumer.snapshot().duplicates()).isZero();
    assertThat(strings("SELECT payload FROM " + effects)).containsExactly("real");
    assertThat(deadLetterRows(name)).containsExactly("null/false/invalid-event-id/0");
  }

  @Test
  void aRecordWithoutIdAtAnOffsetReusedAfterTheTopicWasRecreatedIsDeadLetteredAgain()
      throws Exception {
    String name = TestInfrastructure.uniqueName("dlrecreate");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    IdempotentConsumer<String> first = start(config(name, name).build(), effects);
    send(List.of(record(name, 0, "k", null, "first poison")));
    awaitTrue(Duration.ofSeconds(60), "dead-lettered", () -> first.snapshot().deadLettered() == 1);
    first.close();

    try (Admin admin = admin()) {
      admin.deleteTopics(List.of(name)).all().get(30, TimeUnit.SECONDS);
      awaitTrue(
          Duration.ofSeconds(30),
          "topic gone",
          () -> {
            try {
              return !admin.listTopics().names().get(10, TimeUnit.SECONDS).contains(name);
            } catch (Exception e) {
              return false;
            }
          });
    }
    INFRA.createTopics(1, name);
    send(List.of(record(name, 0, "k", null, "second poison")));
    // The same consumer name (its dead letters), read from the start under a fresh group.
    IdempotentConsumer<String> second =
        start(
            config(name, name).kafka("group.id", TestInfrastructure.uniqueName("regroup")).build(),
            effects);
    awaitTrue(
        Duration.ofSeconds(60),
        "handled",
        () -> second.snapshot().deadLettered() + second.snapshot().duplicates() == 1);

    assertThat(second.snapshot().deadLettered()).isEqualTo(1);
    assertThat(
            strings(
                "SELECT convert_from(record_value, 'UTF8') FROM idem.dead_letters"
                    + " WHERE consumer_name = ?",
                name))
        .containsExactlyInAnyOrder("first poison", "second poison");
  }

  @Test
  void theV2MigrationKeepsTheRowsOfAVersion1Schema() throws Exception {
    String schema = TestInfrastructure.uniqueName("v1up");
    SchemaMigrator migrator = ConsumerSchemas.core(schema, "processed_events", "dead_letters");
    sql("CREATE SCHEMA " + schema);
    sql(migrator.render("V1__processed_events_and_dead_letters.sql"));
    // The V1 script records its version 1 row itself.
    String columns =
        " (consumer_name, event_id, has_event_id, topic, kafka_partition, kafka_offset,"
            + " record_key, record_value, headers, attempts, reason)";
    sql(
        "INSERT INTO "
            + schema
            + ".dead_letters"
            + columns
            + " VALUES ('c', 'evt-1', true, 't', 0, 3, 'k', 'v', '[]', 10, 'handler-failed'),"
            + " ('c', 't-0@4', false, 't', 0, 4, NULL, 'x', '[{\"key\":\"h\",\"value\":\"AA==\"}]',"
            + " 1, 'invalid-event-id')");
    sql(
        "INSERT INTO "
            + schema
            + ".processed_events (consumer_name, event_id, topic, kafka_partition, kafka_offset)"
            + " VALUES ('c', 'evt-0', 't', 0, 2)");

    assertThat(migrator.migrate(INFRA.postgres().dataSource())).containsExactly(2, 3, 4);

    assertThat(
            strings(
                "SELECT coalesce(event_id, 'null') || '/' || has_event_id || '/' || kafka_offset"
                    + " || '/' || (record_digest IS NOT NULL) FROM "
                    + schema
                    + ".dead_letters"))
        .containsExactlyInAnyOrder("evt-1/true/3/false", "null/false/4/true");
    assertThat(count("SELECT count(*) FROM " + schema + ".processed_events")).isEqualTo(1);
    assertThat(migrator.migrate(INFRA.postgres().dataSource())).isEmpty();
  }

  private static Set<String> deadLetterRows(String consumer) throws Exception {
    Set<String> rows = new java.util.HashSet<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT coalesce(event_id, 'null'), has_event_id, reason, kafka_offset FROM"
                    + " idem.dead_letters WHERE consumer_name = ?",
                consumer);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        rows.add(
            rs.getString(1) + "/" + rs.getBoolean(2) + "/" + rs.getString(3) + "/" + rs.getLong(4));
      }
    }
    return rows;
  }
}
