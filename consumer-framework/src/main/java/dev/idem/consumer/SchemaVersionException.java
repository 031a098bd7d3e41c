package dev.idem.consumer;

import dev.idem.IdemException;

/**
 * The schema is not at the version of idem's scripts that this release needs, and idem was told not
 * to apply them ({@code IdempotentConsumer.Builder#applySchema(false)}): {@code start()} refuses to
 * run rather than fail at the first record.
 *
 * <p>The version is read from {@code <schema>.idem_schema_version}, which every idem script writes
 * itself, whichever tool runs it (idem, Flyway, Liquibase, psql). The fix is to apply the missing
 * scripts (print them with {@code dev.idem.consumer.cli.SchemaSql}, or include their folder as a
 * Flyway location; see {@code docs/schema.md}) or to let idem apply them.
 */
public class SchemaVersionException extends IdemException {
  private static final long serialVersionUID = 1L;

  private final String schema;
  private final String scriptSet;
  private final int foundVersion;
  private final int requiredVersion;

  /**
   * A schema found at {@code foundVersion} (0: no version recorded) of {@code scriptSet} where this
   * idem needs {@code requiredVersion}.
   */
  public SchemaVersionException(
      String schema, String scriptSet, int foundVersion, int requiredVersion) {
    super(describe(schema, scriptSet, foundVersion, requiredVersion));
    this.schema = schema;
    this.scriptSet = scriptSet;
    this.foundVersion = foundVersion;
    this.requiredVersion = requiredVersion;
  }

  private static String describe(String schema, String scriptSet, int found, int required) {
    String where = "schema " + schema + " (idem script set " + scriptSet + ")";
    if (found > required) {
      return where
          + " is at version "
          + found
          + ", newer than this idem, which needs version "
          + required
          + "; upgrade idem to the release that ships version "
          + found;
    }
    String state =
        found == 0
            ? " has no version recorded in " + schema + ".idem_schema_version"
            : " is at version " + found;
    return where
        + state
        + ", this idem needs version "
        + required
        + "; apply the scripts after version "
        + found
        + " (print them with: java -cp <idem-consumer-framework jar and its dependencies>"
        + " dev.idem.consumer.cli.SchemaSql --config <your idem.properties>, or include their"
        + " folder as a Flyway location, see docs/schema.md), or build the consumer with"
        + " applySchema(true) to let idem apply them at start";
  }

  /** The schema that was checked ({@code consumer.schema}). */
  public String schema() {
    return schema;
  }

  /**
   * The script set: {@code core:<processed table>:<dead-letter table>}, {@code offsets} or {@code
   * locks}, as recorded in {@code idem_schema_version.script_set}.
   */
  public String scriptSet() {
    return scriptSet;
  }

  /** The version found; 0 when none is recorded (no table, or no row for the script set). */
  public int foundVersion() {
    return foundVersion;
  }

  /** The version this idem release needs. */
  public int requiredVersion() {
    return requiredVersion;
  }
}
