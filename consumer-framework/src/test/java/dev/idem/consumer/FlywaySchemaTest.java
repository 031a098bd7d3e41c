package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.lock.internal.SchemaMigrator;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;

/**
 * A team that applies every DDL through Flyway includes idem's script folders as locations, one
 * history table per script set, as {@code docs/schema.md} shows; idem then runs with {@code
 * applySchema(false)}.
 */
class FlywaySchemaTest {

  @Test
  void aConsumerRunsOnceOnTheSchemaFlywayAppliedWithoutApplyingItItself() throws Exception {
    String name = TestInfrastructure.uniqueName("flyway");
    String schema = name + "_s";
    String effects = name + "_effects";
    createEffectsTable(effects);
    INFRA.createTopics(2, name);
    flyway(core(schema), null).migrate();
    flyway(ConsumerSchemas.offsets(schema), null).migrate();

    try (HikariDataSource pool = pool(4);
        IdempotentConsumer<String> consumer =
            consumerBuilder(
                    config(name, name).schema(schema).offsetStore(OffsetStore.POSTGRESQL).build(),
                    Payloads.utf8(),
                    pool)
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .applySchema(false)
                .build()) {
      consumer.start();
      send(
          List.of(
              record(name, 0, "a", "evt-1", "first copy"),
              record(name, 1, "b", "evt-1", "second copy"),
              record(name, 0, "a", "evt-2", "other event")));
      awaitTrue(
          Duration.ofSeconds(60),
          "three records done",
          () ->
              consumer.snapshot().processed() + consumer.snapshot().duplicates() == 3
                  && consumer.snapshot().duplicates() == 1);
    }
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'evt-1'")).isEqualTo(1);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(2);
    assertThat(
            count(
                "SELECT count(*) FROM " + schema + ".processed_events WHERE consumer_name = ?",
                name))
        .isEqualTo(2);
  }

  @Test
  void flywayAndIdemsMigratorBuildTheSameTables() throws Exception {
    String byFlyway = TestInfrastructure.uniqueName("byflyway");
    String byIdem = TestInfrastructure.uniqueName("byidem");
    for (SchemaMigrator set : allSets(byFlyway)) {
      flyway(set, null).migrate();
    }
    for (SchemaMigrator set : allSets(byIdem)) {
      set.migrate(INFRA.postgres().dataSource());
    }

    List<String> idemTables = shape(byIdem);
    assertThat(idemTables).contains("table processed_events", "table dead_letters_parked_keys");
    // Flyway's own history tables are the only difference.
    assertThat(shape(byFlyway))
        .filteredOn(line -> !line.contains("_history"))
        .containsExactlyElementsOf(idemTables);
    assertThat(versions(byFlyway)).isEqualTo(versions(byIdem));
  }

  @Test
  void aSchemaFlywayLeftAtVersion2IsRefusedWithBothVersionsNamed() throws Exception {
    String name = TestInfrastructure.uniqueName("flywayold");
    String schema = name + "_s";
    flyway(core(schema), "2").migrate();

    SchemaVersionException e =
        SchemaVersionCheckTest.startWithoutMigrating(config(name, name).schema(schema));
    assertThat(e.foundVersion()).isEqualTo(2);
    assertThat(e.requiredVersion()).isEqualTo(4);
    assertThat(e.getMessage())
        .contains("schema " + schema)
        .contains("is at version 2")
        .contains("needs version 4");
    // Flyway brings it up to date from where it stopped, and the consumer then starts.
    flyway(core(schema), null).migrate();
    dev.idem.consumer.internal.schema.SchemaVersionCheck.require(
        INFRA.postgres().dataSource(), List.of(core(schema)));
  }

  private static SchemaMigrator core(String schema) {
    return ConsumerSchemas.core(schema, "processed_events", "dead_letters");
  }

  private static List<SchemaMigrator> allSets(String schema) {
    return List.of(core(schema), ConsumerSchemas.offsets(schema), SchemaMigrator.locks(schema));
  }

  /**
   * Flyway set up as docs/schema.md tells a team: the set's folder as location, the placeholders, a
   * history table of the set's own, since every set starts at V1, and a baseline below V1.
   */
  private static Flyway flyway(SchemaMigrator set, String target) {
    String folder = set.location().substring(set.location().lastIndexOf('/') + 1);
    var config =
        Flyway.configure()
            .dataSource(INFRA.postgres().dataSource())
            .locations("classpath:" + set.location())
            .schemas(set.schema())
            .table("idem_" + folder + "_history")
            // The second set finds the schema non-empty (the first set's tables) and no history
            // of its own: start that history below V1 instead of refusing.
            .baselineOnMigrate(true)
            .baselineVersion("0")
            .placeholders(set.placeholders());
    if (target != null) {
      config.target(target);
    }
    return config.load();
  }

  /** Tables, columns (type, nullability, default), constraints and indexes of {@code schema}. */
  private static List<String> shape(String schema) throws SQLException {
    List<String> lines = new ArrayList<>();
    lines.addAll(
        rows(
            "SELECT 'table ' || table_name FROM information_schema.tables WHERE table_schema = ?",
            schema));
    lines.addAll(
        rows(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '"
                + " || is_nullable || ' ' || coalesce(column_default, '') || ' '"
                + " || is_identity FROM information_schema.columns WHERE table_schema = ?",
            schema));
    lines.addAll(
        rows(
            "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' '"
                + " || pg_get_constraintdef(oid) FROM pg_constraint"
                + " WHERE connamespace = ?::regnamespace",
            schema));
    lines.addAll(
        rows(
            "SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes"
                + " WHERE schemaname = ?",
            schema));
    return lines.stream().map(line -> line.replace(schema + ".", "<schema>.")).sorted().toList();
  }

  private static List<String> versions(String schema) throws SQLException {
    return rows(
        "SELECT script_set || ' ' || version || ' ' || description FROM "
            + schema
            + ".idem_schema_version WHERE ? IS NOT NULL ORDER BY 1",
        schema);
  }

  private static List<String> rows(String query, String parameter) throws SQLException {
    List<String> rows = new ArrayList<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement(query)) {
      ps.setString(1, parameter);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(rs.getString(1));
        }
      }
    }
    return rows;
  }
}
