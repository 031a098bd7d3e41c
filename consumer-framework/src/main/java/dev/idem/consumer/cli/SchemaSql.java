package dev.idem.consumer.cli;

import dev.idem.IdemException;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.internal.schema.ConsumerSchemas;
import dev.idem.consumer.outbox.Outbox;
import dev.idem.lock.internal.SchemaMigrator;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Prints the SQL of idem's schema scripts for a schema and table names, for teams that apply every
 * DDL with their own tool and run the consumer with {@code applySchema(false)}:
 *
 * <pre>
 * SchemaSql [--config FILE] [--schema NAME] [--processed-table NAME] [--dead-letter-table NAME]
 *           [--set core|offsets|locks|outbox]... [--outbox-table NAME] [--after VERSION]
 *           [--output FILE]
 * </pre>
 *
 * <p>The names come from the configuration file ({@code consumer.schema}, {@code
 * consumer.processed-table}, {@code consumer.dead-letter-table}, with its environment overrides) or
 * the options, which win; without either, idem's defaults. The sets printed are those the
 * configured consumer uses ({@code core}, and {@code offsets} with {@code
 * consumer.offset-store=postgresql}) unless {@code --set} names them; {@code --set outbox} prints
 * the transactional outbox's table ({@code --outbox-table}, default {@code outbox}, in the same
 * schema; see {@code dev.idem.consumer.outbox.Outbox}). {@code --after N} prints only the scripts
 * above version N of each set: the upgrade of a schema at version N. The output starts with {@code
 * CREATE SCHEMA IF NOT EXISTS}; every script records its version in {@code
 * <schema>.idem_schema_version}, which the consumer's start-up check reads. Exit codes: 0 printed,
 * 2 bad arguments or configuration.
 */
public final class SchemaSql {
  private SchemaSql() {}

  /** Runs the command with the process's environment and exits with its code. */
  public static void main(String[] args) {
    System.exit(run(args, System.getenv(), System.out, System.err));
  }

  /** Runs the command; returns the exit code. */
  public static int run(
      String[] args, Map<String, String> environment, PrintStream out, PrintStream err) {
    Path config = null;
    String schema = null;
    String processed = null;
    String deadLetters = null;
    String outboxTable = "outbox";
    Set<String> sets = new LinkedHashSet<>();
    int after = 0;
    Path output = null;
    try {
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        switch (arg) {
          case "--config" -> config = Path.of(Args.value(args, ++i, arg));
          case "--schema" -> schema = Args.value(args, ++i, arg);
          case "--processed-table" -> processed = Args.value(args, ++i, arg);
          case "--dead-letter-table" -> deadLetters = Args.value(args, ++i, arg);
          case "--set" -> {
            String set = Args.value(args, ++i, arg);
            if (!List.of("core", "offsets", "locks", "outbox").contains(set)) {
              throw new IllegalArgumentException(
                  "--set " + set + " is not a script set; use core, offsets, locks or outbox");
            }
            sets.add(set);
          }
          case "--outbox-table" -> outboxTable = Args.value(args, ++i, arg);
          case "--after" -> after = version(Args.value(args, ++i, arg));
          case "--output" -> output = Path.of(Args.value(args, ++i, arg));
          case "--help", "-h" -> {
            usage(out);
            return 0;
          }
          default -> throw new IllegalArgumentException("unknown argument " + arg);
        }
      }
    } catch (IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      usage(err);
      return 2;
    }
    IdemConfig settings;
    try {
      // Without a file only the names matter; the consumer settings build() requires are stand-ins.
      IdemConfig.Builder builder =
          config != null
              ? IdemConfig.load(config, environment)
              : IdemConfig.builder("schema-sql").topics("schema-sql").bootstrapServers("unused:1");
      if (schema != null) {
        builder.schema(schema);
      }
      if (processed != null) {
        builder.set("consumer.processed-table", processed);
      }
      if (deadLetters != null) {
        builder.set("consumer.dead-letter-table", deadLetters);
      }
      settings = builder.build();
    } catch (IdemException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
    if (sets.contains("outbox")) {
      try {
        // The outbox's own check of the name, with its message.
        Outbox.builder().table(outboxTable);
      } catch (IllegalArgumentException e) {
        err.println("error: --outbox-table: " + e.getMessage());
        return 2;
      }
    }
    String outbox = outboxTable;
    List<SchemaMigrator> chosen = new ArrayList<>();
    if (sets.isEmpty()) {
      chosen.addAll(ConsumerSchemas.of(settings));
    }
    for (String set : sets) {
      chosen.add(
          switch (set) {
            case "core" ->
                ConsumerSchemas.core(
                    settings.schema(), settings.processedTable(), settings.deadLetterTable());
            case "offsets" -> ConsumerSchemas.offsets(settings.schema());
            case "outbox" -> ConsumerSchemas.outbox(settings.schema(), outbox);
            default -> SchemaMigrator.locks(settings.schema());
          });
    }
    StringBuilder sql = new StringBuilder();
    sql.append("-- idem schema ").append(settings.schema()).append(": sets ");
    sql.append(names(chosen)).append('\n');
    sql.append(chosen.get(0).createSchemaStatement()).append(";\n\n");
    for (SchemaMigrator set : chosen) {
      sql.append(set.renderAfter(after));
    }
    if (output == null) {
      out.print(sql);
      out.flush();
      return 0;
    }
    try {
      Files.writeString(output, sql, StandardCharsets.UTF_8);
    } catch (IOException e) {
      err.println("error: cannot write " + output + ": " + e.getMessage());
      return 1;
    }
    err.println("wrote the SQL of " + names(chosen) + " to " + output);
    return 0;
  }

  private static List<String> names(List<SchemaMigrator> sets) {
    return sets.stream().map(s -> s.scriptSet() + " (version " + s.latestVersion() + ")").toList();
  }

  private static int version(String text) {
    try {
      int v = Integer.parseInt(text);
      if (v >= 0) {
        return v;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("--after needs a version number (0 or more), not " + text);
  }

  private static void usage(PrintStream s) {
    s.println(
        "usage: SchemaSql [--config FILE] [--schema NAME] [--processed-table NAME]"
            + " [--dead-letter-table NAME] [--set core|offsets|locks|outbox]..."
            + " [--outbox-table NAME] [--after VERSION] [--output FILE]");
  }
}
