package dev.idem.lock.internal;

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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies idem's versioned SQL scripts to a schema.
 *
 * <p>Each script set is a linear series {@code V1}, {@code V2}, ... in a folder of its own under
 * {@code dev/idem/schema/}: this library's {@code locks} (leader epochs, job windows), and the
 * consumer framework's {@code core} (processed marks, dead letters, parked keys) and {@code
 * offsets} (the offset store), which that library defines. A folder is a Flyway location as it is:
 * the file names follow Flyway's naming and the placeholders ({@code ${schema}}, {@code
 * ${processed}}, {@code ${dead_letters}}) use the {@code ${name}} syntax of Flyway and Liquibase.
 * Every script records its own version in {@code <schema>.idem_schema_version} (row {@link
 * #scriptSet()}, version), so the schema tells its version whichever tool applied it.
 *
 * <p>Everything runs in one transaction that first takes {@code pg_advisory_xact_lock} on the
 * {@code idem.schema} namespace key of the schema name: instances starting at the same moment queue
 * on the lock, and the second one finds the versions recorded by the first.
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

  /** The root of the script folders on the classpath. */
  public static final String ROOT = "dev/idem/schema";

  private static final ScriptSet LOCKS =
      new ScriptSet(
          "locks",
          List.of(new Script(1, "leader epochs and job windows", "V1__leaders_and_jobs.sql")));

  private final String schema;
  private final String folder;
  private final Map<String, String> placeholders;
  private final String scriptSet;
  private final List<Script> scripts;

  /**
   * A migrator of one script set in {@code schema}.
   *
   * @param schema the (already validated) schema name, also the {@code ${schema}} placeholder
   * @param scriptSet the name recorded in {@code idem_schema_version.script_set}; sets of the same
   *     folder with different table names (two consumers in one schema) use different names
   * @param set the set's folder and scripts
   * @param placeholders further placeholder values by name (without <code>${}</code>), e.g. table
   *     names
   */
  public SchemaMigrator(
      String schema, String scriptSet, ScriptSet set, Map<String, String> placeholders) {
    this.schema = schema;
    this.folder = set.folder();
    this.scriptSet = scriptSet;
    Map<String, String> all = new TreeMap<>();
    all.put("${schema}", schema);
    placeholders.forEach((name, value) -> all.put("${" + name + "}", value));
    this.placeholders = Map.copyOf(all);
    this.scripts = set.scripts();
  }

  /** A migrator for the lock toolkit's tables (leader epochs, job windows) in {@code schema}. */
  public static SchemaMigrator locks(String schema) {
    return new SchemaMigrator(schema, "locks", LOCKS, Map.of());
  }

  /** The statement that creates the schema when it is missing, which no script does. */
  public String createSchemaStatement() {
    return "CREATE SCHEMA IF NOT EXISTS " + schema;
  }

  /** The latest script version of this migrator's set: the version this idem release needs. */
  public int latestVersion() {
    return scripts.get(scripts.size() - 1).version();
  }

  /** The schema the scripts are applied to. */
  public String schema() {
    return schema;
  }

  /**
   * The name of the script set in {@code idem_schema_version.script_set}: {@code
   * core:<processed>:<dead_letters>} (two consumers with different tables in one schema keep
   * separate versions), {@code offsets} or {@code locks}.
   */
  public String scriptSet() {
    return scriptSet;
  }

  /** The classpath folder of the set's scripts, e.g. {@code dev/idem/schema/core}. */
  public String location() {
    return ROOT + "/" + folder;
  }

  /** The placeholder values, by name without {@code ${}}, as Flyway or Liquibase take them. */
  public Map<String, String> placeholders() {
    Map<String, String> byName = new TreeMap<>();
    placeholders.forEach((k, v) -> byName.put(k.substring(2, k.length() - 1), v));
    return byName;
  }

  /** The set's scripts in version order. */
  public List<Script> scripts() {
    return scripts;
  }

  /**
   * The version recorded for this set in the schema, 0 when none is (no schema, no {@code
   * idem_schema_version} table, or no row of this set). Runs in the caller's transaction.
   */
  public int recordedVersion(Connection c) throws SQLException {
    try (PreparedStatement q =
        c.prepareStatement("SELECT to_regclass(quote_ident(?) || '.idem_schema_version')")) {
      q.setString(1, schema);
      try (ResultSet rs = q.executeQuery()) {
        rs.next();
        if (rs.getString(1) == null) {
          return 0;
        }
      }
    }
    try (PreparedStatement q =
        c.prepareStatement(
            "SELECT coalesce(max(version), 0) FROM "
                + schema
                + ".idem_schema_version WHERE script_set = ?")) {
      q.setString(1, scriptSet);
      try (ResultSet rs = q.executeQuery()) {
        rs.next();
        return rs.getInt(1);
      }
    }
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
      s.execute(createSchemaStatement());
    }
    int current = recordedVersion(c);
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
    List<Integer> applied = new ArrayList<>();
    for (Script script : scripts) {
      if (script.version() <= current) {
        continue;
      }
      try (Statement s = c.createStatement()) {
        s.execute(render(script.file()));
      }
      // The script records its own version (so that other tools record it too); a script that
      // forgot would be applied again at every start.
      if (recordedVersion(c) != script.version()) {
        throw new IdemException(
            "schema script "
                + location()
                + "/"
                + script.file()
                + " did not record version "
                + script.version()
                + " in "
                + schema
                + ".idem_schema_version");
      }
      applied.add(script.version());
    }
    return applied;
  }

  /**
   * Every script of the set after version {@code after}, placeholders filled in, each headed by a
   * comment naming the set, its version and its file: what a team applies with its own tool.
   */
  public String renderAfter(int after) {
    StringBuilder sql = new StringBuilder();
    for (Script script : scripts) {
      if (script.version() <= after) {
        continue;
      }
      sql.append("-- idem script set ")
          .append(scriptSet)
          .append(", version ")
          .append(script.version())
          .append(": ")
          .append(script.description())
          .append(" (classpath:")
          .append(location())
          .append('/')
          .append(script.file())
          .append(")\n")
          .append(render(script.file()))
          .append('\n');
    }
    return sql.toString();
  }

  /**
   * The text of the set's script {@code file} (e.g. {@code V1__...sql}), placeholders filled in.
   */
  public String render(String file) {
    String resource = location() + "/" + file;
    String text;
    try (InputStream in = SchemaMigrator.class.getResourceAsStream("/" + resource)) {
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

  /**
   * One script of a set.
   *
   * @param version its version, as in the file name and in {@code idem_schema_version}
   * @param description what it adds
   * @param file its file name in the set's folder
   */
  public record Script(int version, String description, String file) {}

  /**
   * A linear series of scripts in a folder of its own under {@value #ROOT}, which is a Flyway
   * location as it is.
   *
   * @param folder the folder's name, e.g. {@code core}
   * @param scripts the scripts in version order, versions 1, 2, ... without gaps
   */
  public record ScriptSet(String folder, List<Script> scripts) {
    /** Checks that the versions run 1, 2, ... without gaps. */
    public ScriptSet {
      scripts = List.copyOf(scripts);
      for (int i = 0; i < scripts.size(); i++) {
        if (scripts.get(i).version() != i + 1) {
          throw new IllegalArgumentException(
              "script set " + folder + " must be numbered 1, 2, ... without gaps: " + scripts);
        }
      }
    }
  }
}
