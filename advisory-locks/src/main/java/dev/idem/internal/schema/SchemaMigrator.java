package dev.idem.internal.schema;

import dev.idem.IdemException;
import dev.idem.internal.jdbc.Transactions;
import dev.idem.lock.LockKey;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies idem's versioned SQL scripts and records them in {@code <schema>.idem_schema_version}.
 *
 * <p>Everything runs in one transaction that first takes {@code pg_advisory_xact_lock} on the
 * {@code idem.schema} namespace key of the schema name: instances starting at the same moment queue
 * on the lock, and the second one finds the versions recorded by the first. Users who run their own
 * migrations can apply the same scripts (resources under {@code dev/idem/schema/}) with the
 * placeholders filled in, and record the version row.
 */
public final class SchemaMigrator {
  private static final Logger log = LoggerFactory.getLogger(SchemaMigrator.class);

  /** The namespace of the schema lock key: {@code LockKey.of(LOCK_NAMESPACE, schema)}. */
  public static final String LOCK_NAMESPACE = "idem.schema";

  /**
   * How long a migration waits for the schema's advisory lock (and for the locks of its DDL) while
   * another instance migrates.
   */
  public static final Duration LOCK_WAIT = Duration.ofSeconds(120);

  private static final List<Script> CORE_SCRIPTS =
      List.of(
          new Script(
              1, "processed events and dead letters", "V1__processed_events_and_dead_letters.sql"),
          new Script(2, "dead letters without event id", "V2__dead_letters_without_event_id.sql"),
          new Script(3, "parked ordering keys", "V3__parked_keys.sql"));

  private static final List<Script> LOCK_SCRIPTS =
      List.of(new Script(1, "leader epochs and job windows", "locks/V1__leaders_and_jobs.sql"));

  private static final List<Script> OFFSET_SCRIPTS =
      List.of(new Script(1, "consumer offsets", "offsets/V1__consumer_offsets.sql"));

  private final String schema;
  private final Map<String, String> placeholders;
  private final String scriptSet;
  private final List<Script> scripts;

  /** A migrator for the consumer's tables with the given (already validated) identifiers. */
  public SchemaMigrator(String schema, String processedTable, String deadLetterTable) {
    this(
        schema,
        "core:" + processedTable + ":" + deadLetterTable,
        Map.of(
            "${schema}", schema,
            "${processed}", processedTable,
            "${dead_letters}", deadLetterTable),
        CORE_SCRIPTS);
  }

  private SchemaMigrator(
      String schema, String scriptSet, Map<String, String> placeholders, List<Script> scripts) {
    this.schema = schema;
    this.scriptSet = scriptSet;
    this.placeholders = placeholders;
    this.scripts = scripts;
  }

  /** A migrator for the lock toolkit's tables (leader epochs, job windows) in {@code schema}. */
  public static SchemaMigrator locks(String schema) {
    return new SchemaMigrator(schema, "locks", Map.of("${schema}", schema), LOCK_SCRIPTS);
  }

  /**
   * A migrator for the offset store's tables ({@code consumer.offset-store=postgresql}) in {@code
   * schema}.
   */
  public static SchemaMigrator offsets(String schema) {
    return new SchemaMigrator(schema, "offsets", Map.of("${schema}", schema), OFFSET_SCRIPTS);
  }

  /** The latest script version of this migrator's set. */
  public int latestVersion() {
    return scripts.get(scripts.size() - 1).version();
  }

  /**
   * Brings the tables up to the latest version.
   *
   * @return the versions applied by this call (empty when another instance was first)
   */
  public List<Integer> migrate(DataSource dataSource) {
    try (Connection c = dataSource.getConnection()) {
      return migrateOn(c);
    } catch (SQLException e) {
      throw failed(e);
    }
  }

  /** Like {@link #migrate(DataSource)}, on a connection the caller owns (left in autocommit). */
  public List<Integer> migrateOn(Connection c) {
    List<Integer> applied;
    try {
      applied = Transactions.standard().on(c, this::migrate);
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw failed(e);
    }
    if (!applied.isEmpty()) {
      log.info("idem schema {} ({}) migrated to versions {}", schema, scriptSet, applied);
    }
    return applied;
  }

  private IdemException failed(Exception e) {
    return new IdemException("cannot apply idem's schema to " + schema + ": " + e.getMessage(), e);
  }

  private List<Integer> migrate(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    }
    try (PreparedStatement lock =
        c.prepareStatement(
            "SELECT set_config('lock_timeout', '"
                + LOCK_WAIT.toMillis()
                + "ms', true), pg_advisory_xact_lock(?)")) {
      lock.setLong(1, LockKey.hash(LOCK_NAMESPACE, schema));
      lock.execute();
    }
    try (Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS " + schema);
      s.execute(
          "CREATE TABLE IF NOT EXISTS "
              + schema
              + ".idem_schema_version ("
              + " script_set text NOT NULL,"
              + " version integer NOT NULL,"
              + " description text NOT NULL,"
              + " applied_at timestamptz NOT NULL DEFAULT now(),"
              + " PRIMARY KEY (script_set, version))");
    }
    int current = 0;
    try (PreparedStatement q =
        c.prepareStatement(
            "SELECT coalesce(max(version), 0) FROM "
                + schema
                + ".idem_schema_version WHERE script_set = ?")) {
      q.setString(1, scriptSet);
      try (ResultSet rs = q.executeQuery()) {
        rs.next();
        current = rs.getInt(1);
      }
    }
    if (current > latestVersion()) {
      throw new IdemException(
          "schema "
              + schema
              + " is at version "
              + current
              + ", newer than this idem ("
              + latestVersion()
              + "); upgrade idem");
    }
    List<Integer> applied = new java.util.ArrayList<>();
    for (Script script : scripts) {
      if (script.version() <= current) {
        continue;
      }
      try (Statement s = c.createStatement()) {
        s.execute(render(script.resource()));
      }
      try (PreparedStatement insert =
          c.prepareStatement(
              "INSERT INTO "
                  + schema
                  + ".idem_schema_version (script_set, version, description) VALUES (?, ?, ?)")) {
        insert.setString(1, scriptSet);
        insert.setInt(2, script.version());
        insert.setString(3, script.description());
        insert.executeUpdate();
      }
      applied.add(script.version());
    }
    return applied;
  }

  /** The script text with the placeholders filled in. */
  public String render(String resource) {
    String text;
    try (InputStream in =
        SchemaMigrator.class.getResourceAsStream("/dev/idem/schema/" + resource)) {
      if (in == null) {
        throw new IdemException("missing schema script " + resource + " in idem's jar");
      }
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IdemException("cannot read schema script " + resource, e);
    }
    for (Map.Entry<String, String> p : placeholders.entrySet()) {
      text = text.replace(p.getKey(), p.getValue());
    }
    return text;
  }

  private record Script(int version, String description, String resource) {}
}
