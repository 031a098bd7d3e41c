package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.INFRA;
import static dev.idem.consumer.IdemTestSupport.sql;
import static dev.idem.consumer.IdemTestSupport.strings;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.deadletter.DeadLetterPublisher;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.observation.Observations;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.internal.store.DeadLetterRows;
import dev.idem.consumer.internal.store.KeyParking;
import dev.idem.consumer.internal.store.PostgresIdempotencyStore;
import dev.idem.consumer.internal.store.TransactionSettings;
import dev.idem.consumer.internal.tx.AttemptConnections;
import dev.idem.consumer.internal.tx.LockKeyFunction;
import dev.idem.consumer.internal.tx.Outcome;
import dev.idem.consumer.internal.tx.RecordProcessor;
import dev.idem.consumer.internal.tx.TransactionRunner;
import dev.idem.consumer.internal.tx.TxEnvironment;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.internal.SchemaMigrator;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A dead letter keeps the share-group delivery on which its record was given up (core schema V4):
 * the record's {@code deliveryCount()}, or NULL for a record without one, as records read in a
 * consumer group are. The dead letters are written by {@link RecordProcessor#deadLetter}, as both
 * kinds of consumer write them, into a schema of each test's own. {@code HandlerContractTest}
 * checks the column of a consumer group's dead letter end to end.
 */
class DeadLetterDeliveryCountTest {
  private static final String CONSUMER = "delivery-count";
  private static final String TOPIC = "payments";

  private String schema;
  private RecordProcessor<String> processor;

  @BeforeEach
  void ownSchemaAndProcessor() {
    schema = TestInfrastructure.uniqueName("dlcount");
    ConsumerSchemas.core(schema, "processed_events", "dead_letters").migrate(dataSource());
    processor = processor(schema);
  }

  @Test
  void theV4ScriptAddsANullableDeliveryCountWithACommentAndRecordsVersion4() throws Exception {
    assertThat(
            strings(
                "SELECT data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-')"
                    + " FROM information_schema.columns WHERE table_schema = ?"
                    + " AND table_name = 'dead_letters' AND column_name = 'delivery_count'",
                schema))
        .containsExactly("integer YES -");
    assertThat(
            strings(
                "SELECT col_description(attrelid, attnum) FROM pg_attribute"
                    + " WHERE attrelid = (?::text || '.dead_letters')::regclass"
                    + " AND attname = 'delivery_count'",
                schema))
        .singleElement()
        .asString()
        .contains("delivery")
        .contains("NULL");
    assertThat(
            strings(
                "SELECT version || ' ' || description FROM "
                    + schema
                    + ".idem_schema_version WHERE script_set = ? AND version = 4",
                "core:processed_events:dead_letters"))
        .containsExactly("4 delivery count of dead letters");
  }

  @Test
  void aSchemaAtVersion3GetsTheColumnAndItsDeadLettersStayWithoutACount() throws Exception {
    String old = TestInfrastructure.uniqueName("dlcount_v3");
    SchemaMigrator core = ConsumerSchemas.core(old, "processed_events", "dead_letters");
    sql("CREATE SCHEMA " + old);
    for (SchemaMigrator.Script script : core.scripts().subList(0, 3)) {
      sql(core.render(script.file()));
    }
    sql(
        "INSERT INTO "
            + old
            + ".dead_letters (consumer_name, event_id, has_event_id, topic, kafka_partition,"
            + " kafka_offset, attempts, reason) VALUES ('c', 'e-1', true, 't', 0, 7, 3,"
            + " 'handler-failed')");

    assertThat(core.migrate(dataSource())).containsExactly(4);

    assertThat(
            strings(
                "SELECT event_id || ' ' || coalesce(delivery_count::text, 'null') FROM "
                    + old
                    + ".dead_letters"))
        .containsExactly("e-1 null");
  }

  @Test
  void aDeadLetterOfAShareRecordStoresTheDeliveryItWasGivenUpOn() throws Exception {
    assertThat(deadLetter(record(0, "e-1", Optional.of((short) 5)), "e-1"))
        .isEqualTo(Outcome.Kind.DEAD_LETTERED);
    assertThat(deadLetter(record(1, null, Optional.of((short) 2)), null))
        .as("a record without an event id, keyed by its coordinates")
        .isEqualTo(Outcome.Kind.DEAD_LETTERED);

    assertThat(deliveryCounts()).containsExactlyInAnyOrder("0 5", "1 2");
  }

  @Test
  void aDeadLetterOfARecordWithoutADeliveryCountStoresNull() throws Exception {
    assertThat(deadLetter(record(0, "e-1", Optional.empty()), "e-1"))
        .isEqualTo(Outcome.Kind.DEAD_LETTERED);
    assertThat(deadLetter(record(1, null, Optional.empty()), null))
        .isEqualTo(Outcome.Kind.DEAD_LETTERED);

    assertThat(deliveryCounts()).containsExactlyInAnyOrder("0 null", "1 null");
  }

  @Test
  void theRowsAReplayTakesCarryTheirDeliveryCount() throws Exception {
    deadLetter(record(0, "e-1", Optional.of((short) 4)), "e-1");
    deadLetter(record(1, "e-2", Optional.empty()), "e-2");
    DeadLetterRows rows = new DeadLetterRows(schema, "dead_letters", "processed_events", CONSUMER);

    List<String> taken =
        Transactions.standard()
            .run(
                dataSource(),
                c -> {
                  List<String> labels = new ArrayList<>();
                  for (DeadLetterRows.Ref ref : rows.select(c, null, null, 10)) {
                    DeadLetterRows.Row row = rows.delete(c, ref.id());
                    labels.add(row.label() + " " + row.deliveryCount());
                  }
                  return labels;
                });

    assertThat(taken).containsExactly("e-1 4", "e-2 null");
  }

  /** Dead-letters {@code record} after two failed attempts; returns what the write did. */
  private Outcome.Kind deadLetter(ConsumerRecord<byte[], byte[]> record, String eventId) {
    Outcome outcome =
        processor.deadLetter(
            record, eventId, "handler-failed", 2, new IllegalStateException("cannot apply"), null);
    assertThat(outcome.failure()).isNull();
    return outcome.kind();
  }

  /** Each dead letter's offset and delivery count ({@code null} for NULL). */
  private List<String> deliveryCounts() throws Exception {
    return List.copyOf(
        strings(
            "SELECT kafka_offset || ' ' || coalesce(delivery_count::text, 'null') FROM "
                + schema
                + ".dead_letters WHERE consumer_name = ?",
            CONSUMER));
  }

  /** A record of partition 0 at {@code offset}, as a consumer hands it to idem. */
  private static ConsumerRecord<byte[], byte[]> record(
      long offset, String key, Optional<Short> deliveryCount) {
    return new ConsumerRecord<>(
        TOPIC,
        0,
        offset,
        0L,
        TimestampType.CREATE_TIME,
        -1,
        -1,
        key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        ("value at " + offset).getBytes(StandardCharsets.UTF_8),
        new RecordHeaders(),
        Optional.empty(),
        deliveryCount);
  }

  /** The record processor of a consumer on {@code schema}, as the runtimes build it. */
  private static RecordProcessor<String> processor(String schema) {
    PostgresIdempotencyStore store =
        new PostgresIdempotencyStore(
            CONSUMER,
            schema,
            "processed_events",
            "dead_letters",
            new TransactionSettings(Duration.ofSeconds(5), Duration.ofSeconds(5), 0),
            OffsetStore.KAFKA);
    TxEnvironment env =
        new TxEnvironment(
            CONSUMER,
            "idem",
            TransactionRunner.jdbc(dataSource(), Transactions.standard()),
            store,
            LockKeyFunction.V1,
            new ConsumerMetrics(new SimpleMeterRegistry(), CONSUMER),
            FaultHook.NONE,
            AttemptConnections.NONE,
            TransactionHook.NONE,
            Observations.none(CONSUMER));
    return new RecordProcessor<>(
        env,
        EventIds.recordKey(),
        Payloads.utf8(),
        (value, ctx) -> {},
        DeadLetterPublisher.NONE,
        KeyParking.SKIP);
  }

  private static DataSource dataSource() {
    return INFRA.postgres().dataSource();
  }
}
