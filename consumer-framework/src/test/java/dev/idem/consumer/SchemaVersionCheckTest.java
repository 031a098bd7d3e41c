package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.lock.internal.SchemaMigrator;
import dev.idem.testkit.TestInfrastructure;
import org.junit.jupiter.api.Test;

/**
 * With {@code applySchema(false)} the team's own migrations own the schema; {@code start()} refuses
 * a schema that is not at the version this idem needs, before it reads a record.
 */
class SchemaVersionCheckTest {

  @Test
  void startRefusesASchemaWithoutIdemsTablesWhenItDoesNotApplyThem() {
    String name = TestInfrastructure.uniqueName("noschema");
    SchemaVersionException e = startWithoutMigrating(config(name, name).schema(name + "_s"));

    assertThat(e.schema()).isEqualTo(name + "_s");
    assertThat(e.scriptSet()).isEqualTo("core:processed_events:dead_letters");
    assertThat(e.foundVersion()).isZero();
    assertThat(e.requiredVersion()).isEqualTo(4);
    assertThat(e.getMessage())
        .contains(name + "_s")
        .contains("no version")
        .contains("version 4")
        .contains("applySchema")
        .contains("dev.idem.consumer.cli.SchemaSql");
  }

  @Test
  void startRefusesASchemaLeftAtAnOlderVersionNamingBothVersions() throws Exception {
    String name = TestInfrastructure.uniqueName("oldschema");
    String schema = name + "_s";
    SchemaMigrator core = ConsumerSchemas.core(schema, "processed_events", "dead_letters");
    sql("CREATE SCHEMA " + schema);
    sql(core.render("V1__processed_events_and_dead_letters.sql"));
    sql(core.render("V2__dead_letters_without_event_id.sql"));

    SchemaVersionException e = startWithoutMigrating(config(name, name).schema(schema));

    assertThat(e.foundVersion()).isEqualTo(2);
    assertThat(e.requiredVersion()).isEqualTo(4);
    assertThat(e.getMessage()).contains("version 2").contains("version 4");
  }

  @Test
  void startRefusesASchemaNewerThanThisIdem() throws Exception {
    String name = TestInfrastructure.uniqueName("newschema");
    String schema = name + "_s";
    ConsumerSchemas.core(schema, "processed_events", "dead_letters")
        .migrate(INFRA.postgres().dataSource());
    sql(
        "INSERT INTO "
            + schema
            + ".idem_schema_version (script_set, version, description)"
            + " VALUES ('core:processed_events:dead_letters', 5, 'from a later idem')");

    SchemaVersionException e = startWithoutMigrating(config(name, name).schema(schema));

    assertThat(e.foundVersion()).isEqualTo(5);
    assertThat(e.requiredVersion()).isEqualTo(4);
    assertThat(e.getMessage()).contains("newer");
  }

  @Test
  void startRefusesAMissingOffsetScriptSetWhenOffsetsAreKeptInPostgresql() throws Exception {
    String name = TestInfrastructure.uniqueName("nooffsets");
    String schema = name + "_s";
    ConsumerSchemas.core(schema, "processed_events", "dead_letters")
        .migrate(INFRA.postgres().dataSource());

    SchemaVersionException e =
        startWithoutMigrating(
            config(name, name).schema(schema).offsetStore(OffsetStore.POSTGRESQL));

    assertThat(e.scriptSet()).isEqualTo("offsets");
    assertThat(e.foundVersion()).isZero();
    assertThat(e.requiredVersion()).isEqualTo(1);
  }

  /** Starts a consumer with {@code applySchema(false)} and returns the refusal it must throw. */
  static SchemaVersionException startWithoutMigrating(IdemConfig.Builder config) {
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            IdempotentConsumer.builder(config.build(), Payloads.utf8())
                .dataSource(pool)
                .eventIds(EventIds.recordKey())
                .handler((v, ctx) -> {})
                .applySchema(false)
                .build()) {
      SchemaVersionException e =
          catchThrowableOfType(SchemaVersionException.class, consumer::start);
      assertThat(e).as("start() refuses the schema").isNotNull();
      return e;
    }
  }
}
