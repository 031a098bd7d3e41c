package dev.idem.consumer.internal.schema;

import dev.idem.IdemException;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.SchemaVersionException;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.internal.SchemaMigrator;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * The start-up check of a consumer that does not apply idem's scripts itself ({@code
 * applySchema(false)}): each script set it uses must be recorded at exactly the version this
 * release ships.
 *
 * <p>The version comes from {@code <schema>.idem_schema_version}, which every script writes itself.
 * That works whichever tool ran the scripts (Flyway, Liquibase, psql), without knowing the name or
 * place of that tool's own history table, and it reads the same rows idem's migrator reads. A newer
 * version is refused as the migrator refuses it: an older idem cannot know what a later script
 * changed.
 */
public final class SchemaVersionCheck {
  private SchemaVersionCheck() {}

  /**
   * Checks the script sets of {@code config} in the database.
   *
   * @throws SchemaVersionException naming the set, the version found and the version needed
   * @throws IdemException when the versions cannot be read
   */
  public static void require(DataSource dataSource, IdemConfig config) {
    require(dataSource, ConsumerSchemas.of(config));
  }

  /** Checks the given script sets; see {@link #require(DataSource, IdemConfig)}. */
  public static void require(DataSource dataSource, List<SchemaMigrator> sets) {
    List<Integer> recorded;
    try (Connection c = dataSource.getConnection()) {
      recorded =
          Transactions.standard()
              .on(
                  c,
                  tx -> {
                    List<Integer> versions = new ArrayList<>();
                    for (SchemaMigrator set : sets) {
                      versions.add(set.recordedVersion(tx));
                    }
                    return versions;
                  });
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IdemException(
          "cannot read idem's schema version from "
              + sets.get(0).schema()
              + ".idem_schema_version: "
              + e.getMessage()
              + " (the consumer's database user needs USAGE on the schema and SELECT on the table)",
          e);
    }
    for (int i = 0; i < sets.size(); i++) {
      SchemaMigrator set = sets.get(i);
      if (recorded.get(i) != set.latestVersion()) {
        throw new SchemaVersionException(
            set.schema(), set.scriptSet(), recorded.get(i), set.latestVersion());
      }
    }
  }
}
