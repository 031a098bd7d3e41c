package dev.idem.consumer.internal.schema;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.OffsetStore;
import dev.idem.lock.internal.SchemaMigrator;
import dev.idem.lock.internal.SchemaMigrator.Script;
import dev.idem.lock.internal.SchemaMigrator.ScriptSet;
import java.util.List;
import java.util.Map;

/**
 * The consumer framework's script sets: {@code core} (processed marks, dead letters, parked keys),
 * {@code offsets} (the offset store) and {@code outbox}. The lock library's set is {@link
 * SchemaMigrator#locks(String)}.
 */
public final class ConsumerSchemas {
  private static final ScriptSet CORE =
      new ScriptSet(
          "core",
          List.of(
              new Script(
                  1,
                  "processed events and dead letters",
                  "V1__processed_events_and_dead_letters.sql"),
              new Script(
                  2, "dead letters without event id", "V2__dead_letters_without_event_id.sql"),
              new Script(3, "parked ordering keys", "V3__parked_keys.sql"),
              new Script(
                  4, "delivery count of dead letters", "V4__dead_letters_delivery_count.sql")));

  private static final ScriptSet OFFSETS =
      new ScriptSet(
          "offsets", List.of(new Script(1, "consumer offsets", "V1__consumer_offsets.sql")));

  private static final ScriptSet OUTBOX =
      new ScriptSet("outbox", List.of(new Script(1, "outbox", "V1__outbox.sql")));

  private ConsumerSchemas() {}

  /**
   * The script sets a consumer with {@code config} uses: core, and offsets with {@code
   * consumer.offset-store=postgresql}. Applied at start, or checked there with {@code
   * applySchema(false)}.
   */
  public static List<SchemaMigrator> of(IdemConfig config) {
    SchemaMigrator core = core(config.schema(), config.processedTable(), config.deadLetterTable());
    return config.offsetStore() == OffsetStore.POSTGRESQL
        ? List.of(core, offsets(config.schema()))
        : List.of(core);
  }

  /**
   * The consumer's tables with the given (already validated) identifiers. The recorded set name is
   * {@code core:<processed>:<dead_letters>}: two consumers with different tables in one schema keep
   * separate versions.
   */
  public static SchemaMigrator core(String schema, String processedTable, String deadLetterTable) {
    return new SchemaMigrator(
        schema,
        "core:" + processedTable + ":" + deadLetterTable,
        CORE,
        Map.of("processed", processedTable, "dead_letters", deadLetterTable));
  }

  /** The outbox table {@code table} in {@code schema} (identifiers already validated). */
  public static SchemaMigrator outbox(String schema, String table) {
    return new SchemaMigrator(schema, "outbox:" + table, OUTBOX, Map.of("outbox", table));
  }

  /** The offset store's tables ({@code consumer.offset-store=postgresql}) in {@code schema}. */
  public static SchemaMigrator offsets(String schema) {
    return new SchemaMigrator(schema, "offsets", OFFSETS, Map.of());
  }
}
