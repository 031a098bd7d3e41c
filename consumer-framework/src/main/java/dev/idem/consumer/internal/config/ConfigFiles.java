package dev.idem.consumer.internal.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.idem.consumer.IdemConfigException;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * Reads configuration files (properties or YAML, nested YAML keys joined with dots) and applies
 * environment overrides.
 *
 * <p>Overrides: every key {@code k} read from the file, and every key in {@code knownKeys}, may be
 * replaced by the variable {@code IDEM_} + {@code k} upper-cased with dots and dashes turned into
 * underscores ({@code consumer.lock-timeout} → {@code IDEM_CONSUMER_LOCK_TIMEOUT}). A variable
 * {@code IDEM_KAFKA_X_Y} sets {@code kafka.x.y}. The short names {@code KAFKA_BOOTSTRAP_SERVERS},
 * {@code PG_URL}, {@code PG_USER} and {@code PG_PASSWORD} are honoured too.
 */
public final class ConfigFiles {
  private static final Map<String, String> SHORT_NAMES =
      Map.of(
          "KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap.servers",
          "PG_URL", "pg.url",
          "PG_USER", "pg.user",
          "PG_PASSWORD", "pg.password");

  private ConfigFiles() {}

  /** The file's settings with the environment's overrides applied. */
  public static Map<String, String> read(
      Path file, Map<String, String> environment, Iterable<String> overridableKeys) {
    return withOverrides(readFile(file), environment, overridableKeys);
  }

  /** {@code values} with the environment's overrides applied, also for {@code extraKeys}. */
  public static Map<String, String> withOverrides(
      Map<String, String> values, Map<String, String> environment, Iterable<String> extraKeys) {
    Map<String, String> result = new LinkedHashMap<>(values);
    Map<String, String> envNames = new LinkedHashMap<>();
    for (String key : values.keySet()) {
      envNames.put(envName(key), key);
    }
    for (String key : extraKeys) {
      envNames.put(envName(key), key);
    }
    for (Map.Entry<String, String> e : environment.entrySet()) {
      String key = envNames.get(e.getKey());
      if (key == null && e.getKey().startsWith("IDEM_KAFKA_")) {
        key =
            "kafka."
                + e.getKey()
                    .substring("IDEM_KAFKA_".length())
                    .toLowerCase(Locale.ROOT)
                    .replace('_', '.');
      }
      if (key != null) {
        result.put(key, e.getValue());
      }
    }
    SHORT_NAMES.forEach(
        (env, key) -> {
          String value = environment.get(env);
          if (value != null && !value.isBlank()) {
            result.put(key, value);
          }
        });
    return result;
  }

  /** The environment variable that overrides {@code key}. */
  public static String envName(String key) {
    return "IDEM_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  /** The file's settings as flat keys. */
  public static Map<String, String> readFile(Path file) {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    try {
      if (name.endsWith(".yaml") || name.endsWith(".yml")) {
        JsonNode root = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
        Map<String, String> flat = new LinkedHashMap<>();
        if (root != null && !root.isMissingNode() && !root.isNull()) {
          if (!root.isObject()) {
            throw new IdemConfigException(file.toString(), "a YAML config must be a mapping");
          }
          flatten("", root, flat, file);
        }
        return flat;
      }
      if (name.endsWith(".properties")) {
        Properties props = new Properties();
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
          props.load(reader);
        }
        Map<String, String> values = new LinkedHashMap<>();
        props.stringPropertyNames().stream()
            .sorted()
            .forEach(k -> values.put(k, props.getProperty(k).trim()));
        return values;
      }
    } catch (IOException e) {
      throw new IdemConfigException(file.toString(), "cannot be read: " + e.getMessage());
    }
    throw new IdemConfigException(
        file.toString(), "unknown file type; use .properties, .yaml or .yml");
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out, Path file) {
    Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> field = fields.next();
      String key = prefix.isEmpty() ? field.getKey() : prefix + "." + field.getKey();
      JsonNode value = field.getValue();
      if (value.isObject()) {
        flatten(key, value, out, file);
      } else if (value.isArray()) {
        StringBuilder sb = new StringBuilder();
        value.forEach(v -> sb.append(sb.length() == 0 ? "" : ",").append(v.asText()));
        out.put(key, sb.toString());
      } else if (!value.isNull()) {
        out.put(key, value.asText());
      }
    }
  }
}
