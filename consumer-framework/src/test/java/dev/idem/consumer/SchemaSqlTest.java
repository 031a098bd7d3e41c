package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import dev.idem.consumer.cli.SchemaSql;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.internal.schema.SchemaVersionCheck;
import dev.idem.lock.internal.SchemaMigrator;
import dev.idem.testkit.TestInfrastructure;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SQL a team applies with its own tool, printed by {@link SchemaSql}. */
class SchemaSqlTest {

  @Test
  void thePrintedSqlBuildsASchemaTheStartUpCheckAccepts() throws Exception {
    String schema = TestInfrastructure.uniqueName("printed");
    Printed printed =
        schemaSql(
            "--schema",
            schema,
            "--processed-table",
            "seen_events",
            "--dead-letter-table",
            "failed_events",
            "--set",
            "core",
            "--set",
            "offsets");
    assertThat(printed.code()).isZero();
    assertThat(printed.out())
        .doesNotContain("${")
        .contains("CREATE SCHEMA IF NOT EXISTS " + schema);

    sql(printed.out());

    List<SchemaMigrator> sets =
        List.of(
            ConsumerSchemas.core(schema, "seen_events", "failed_events"),
            ConsumerSchemas.offsets(schema));
    assertThatCode(() -> SchemaVersionCheck.require(INFRA.postgres().dataSource(), sets))
        .doesNotThrowAnyException();
    assertThat(count("SELECT count(*) FROM " + schema + ".failed_events_parked_keys")).isZero();
    assertThat(count("SELECT count(*) FROM " + schema + ".consumer_offsets")).isZero();
  }

  @Test
  void theScriptsAfterAVersionUpgradeASchemaLeftThere() throws Exception {
    String schema = TestInfrastructure.uniqueName("upgrade");
    SchemaMigrator core = ConsumerSchemas.core(schema, "processed_events", "dead_letters");
    sql("CREATE SCHEMA " + schema);
    sql(core.render("V1__processed_events_and_dead_letters.sql"));
    sql(core.render("V2__dead_letters_without_event_id.sql"));

    Printed printed = schemaSql("--schema", schema, "--after", "2");

    assertThat(printed.out())
        .contains("version 3: parked ordering keys")
        .contains("version 4: delivery count of dead letters")
        .doesNotContain("version 2:");
    sql(printed.out());
    assertThatCode(() -> SchemaVersionCheck.require(INFRA.postgres().dataSource(), List.of(core)))
        .doesNotThrowAnyException();
  }

  @Test
  void theNamesAndSetsComeFromTheConsumersConfigurationFileAndTheSqlGoesToAFile(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("idem.properties");
    Files.writeString(
        file,
        String.join(
            "\n",
            "consumer.name=ledger",
            "consumer.topics=payments",
            "kafka.bootstrap.servers=localhost:9092",
            "consumer.schema=ledger_idem",
            "consumer.offset-store=postgresql"));

    Path sql = dir.resolve("idem.sql");
    Printed printed = schemaSql("--config", file.toString(), "--output", sql.toString());

    assertThat(printed.code()).isZero();
    assertThat(printed.out()).isEmpty();
    assertThat(Files.readString(sql))
        .contains("CREATE TABLE IF NOT EXISTS ledger_idem.processed_events")
        .contains("CREATE TABLE IF NOT EXISTS ledger_idem.consumer_offsets")
        .doesNotContain("leader_epochs");
  }

  @Test
  void theOutboxSetPrintsATableTheOutboxWritesTo() throws Exception {
    String schema = TestInfrastructure.uniqueName("printed_outbox");
    Printed printed =
        schemaSql("--schema", schema, "--set", "outbox", "--outbox-table", "payments_outbox");
    assertThat(printed.code()).isZero();
    assertThat(printed.out()).contains("outbox:payments_outbox (version 1)").doesNotContain("${");

    sql(printed.out());

    assertThatCode(
            () ->
                SchemaVersionCheck.require(
                    INFRA.postgres().dataSource(),
                    List.of(ConsumerSchemas.outbox(schema, "payments_outbox"))))
        .doesNotThrowAnyException();
    var outbox =
        dev.idem.consumer.outbox.Outbox.builder().schema(schema).table("payments_outbox").build();
    try (var c = INFRA.postgres().dataSource().getConnection()) {
      c.setAutoCommit(false);
      outbox.publish(c, dev.idem.consumer.outbox.OutboxRecord.of("p-1", "t", null, new byte[] {1}));
      c.commit();
    }
    assertThat(count("SELECT count(*) FROM " + schema + ".payments_outbox")).isEqualTo(1);

    Printed refused = schemaSql("--set", "outbox", "--outbox-table", "Outbox; DROP");
    assertThat(refused.code()).isEqualTo(2);
    assertThat(refused.err()).contains("--outbox-table").contains("lower-case SQL identifier");
  }

  @Test
  void aSchemaNameThatIsNotAnIdentifierIsRefusedNamingTheSetting() {
    Printed printed = schemaSql("--schema", "Idem; DROP TABLE x");

    assertThat(printed.code()).isEqualTo(2);
    assertThat(printed.err()).contains("consumer.schema").contains("lower-case SQL identifier");
    assertThat(printed.out()).isEmpty();
  }

  private record Printed(int code, String out, String err) {}

  private static Printed schemaSql(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        SchemaSql.run(
            args,
            Map.of(),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Printed(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }
}
