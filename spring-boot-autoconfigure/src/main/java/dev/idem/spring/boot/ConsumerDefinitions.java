package dev.idem.spring.boot;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.ResolvableType;
import org.springframework.core.env.Environment;

/**
 * Reads {@code idem.*} from the environment: every value as text, handed to {@code IdemConfig}'s
 * own builder, so that a value is read and checked by the same definitions, with the same messages,
 * as in a configuration file.
 *
 * <p>A consumer's settings, weakest first: the Kafka connection settings of {@code spring.kafka.*}
 * ({@code bootstrap-servers}, {@code security.protocol}, and the connection and security keys of
 * {@code spring.kafka.properties.*}); {@code idem.defaults.*}; {@code idem.consumers.<name>.*}.
 */
final class ConsumerDefinitions {
  /** Keys of a consumer block that are the starter's own, not idem's settings. */
  static final List<String> OWN_KEYS =
      List.of(
          "enabled",
          "handler",
          "event-id",
          "ordering-key",
          "payloads",
          "failure-classifier",
          "group-type");

  /** The {@code spring.kafka.properties.*} keys taken as defaults: connecting and security. */
  private static final Pattern CONNECTION_KEY =
      Pattern.compile(
          "(security\\.|sasl\\.|ssl\\.|client\\.dns\\.lookup|socket\\.|reconnect\\.|"
              + "connections\\.max\\.idle\\.ms|request\\.timeout\\.ms|metadata\\.max\\.age\\.ms|"
              + "retry\\.backoff).*");

  /** A list element as Boot's binder names it in a map: {@code topics[0]} or {@code topics.0}. */
  private static final Pattern INDEXED = Pattern.compile("(.+?)(?:\\[(\\d+)]|\\.(\\d+))");

  private static final Bindable<Map<String, String>> FLAT =
      Bindable.mapOf(String.class, String.class);

  @SuppressWarnings("unchecked")
  private static final Bindable<Map<String, Map<String, String>>> BLOCKS =
      (Bindable<Map<String, Map<String, String>>>)
          (Bindable<?>)
              Bindable.of(
                  ResolvableType.forClassWithGenerics(
                      Map.class,
                      ResolvableType.forClass(String.class),
                      ResolvableType.forClassWithGenerics(Map.class, String.class, String.class)));

  private ConsumerDefinitions() {}

  /** Every consumer block, in name order. */
  static List<ConsumerDefinition> read(Environment environment) {
    Binder binder = Binder.get(environment);
    Map<String, String> kafkaDefaults = springKafka(binder);
    Map<String, String> defaults = flatten(binder.bind("idem.defaults", FLAT).orElse(Map.of()));
    for (String key : List.of("enabled", "handler", "payloads")) {
      if (defaults.containsKey(key)) {
        throw new InvalidIdemPropertyException(
            "idem.defaults." + key,
            "is per consumer only",
            "set idem.consumers.<name>." + key + " instead");
      }
    }
    Map<String, Map<String, String>> blocks =
        new TreeMap<>(binder.bind("idem.consumers", BLOCKS).orElse(Map.of()));
    List<ConsumerDefinition> definitions = new ArrayList<>();
    blocks.forEach(
        (name, block) ->
            definitions.add(definition(name, kafkaDefaults, defaults, flatten(block))));
    return definitions;
  }

  private static ConsumerDefinition definition(
      String name,
      Map<String, String> kafkaDefaults,
      Map<String, String> defaults,
      Map<String, String> block) {
    Map<String, String> settings = new LinkedHashMap<>();
    Map<String, String> origins = new LinkedHashMap<>();
    kafkaDefaults.forEach(
        (k, v) -> {
          settings.put("kafka." + k, v);
          origins.put(
              "kafka." + k,
              k.equals("bootstrap.servers")
                  ? "spring.kafka.bootstrap-servers"
                  : k.equals("security.protocol")
                      ? "spring.kafka.security.protocol"
                      : "spring.kafka.properties." + k);
        });
    Map<String, String> own = new LinkedHashMap<>();
    put(defaults, "idem.defaults.", settings, origins, own);
    put(block, "idem.consumers." + name + ".", settings, origins, own);
    String enabled = own.getOrDefault("enabled", "true").trim().toLowerCase(Locale.ROOT);
    if (!enabled.equals("true") && !enabled.equals("false")) {
      throw new InvalidIdemPropertyException(
          "idem.consumers." + name + ".enabled", "must be true or false", "set true or false");
    }
    String groupType = own.getOrDefault("group-type", "consumer").trim().toLowerCase(Locale.ROOT);
    if (!groupType.equals("consumer") && !groupType.equals("share")) {
      throw new InvalidIdemPropertyException(
          "idem.consumers." + name + ".group-type",
          "'" + groupType + "' is not a group type",
          "use consumer (a consumer group, the default) or share (a share group)");
    }
    return new ConsumerDefinition(
        name,
        settings,
        origins,
        enabled.equals("true"),
        own.getOrDefault("handler", name),
        own.get("event-id"),
        own.getOrDefault("ordering-key", "key"),
        own.get("payloads"),
        own.get("failure-classifier"),
        groupType);
  }

  /** Sorts a block's entries into idem's keys and the starter's own. */
  private static void put(
      Map<String, String> entries,
      String prefix,
      Map<String, String> settings,
      Map<String, String> origins,
      Map<String, String> own) {
    entries.forEach(
        (k, v) -> {
          if (OWN_KEYS.contains(k)) {
            own.put(k, v);
            return;
          }
          if (k.equals("name") || k.startsWith("pg.")) {
            throw new InvalidIdemPropertyException(
                prefix + k,
                k.equals("name")
                    ? "is the block's key, not a setting"
                    : "is not used: consumers run on the application's DataSource",
                k.equals("name")
                    ? "remove it; name the block idem.consumers.<name> instead"
                    : "remove it, and configure spring.datasource.* (or an idemDataSource bean)");
          }
          String key = k.startsWith("kafka.") ? k : "consumer." + k;
          settings.put(key, v);
          origins.put(key, prefix + k);
        });
  }

  /**
   * Boot binds a list as {@code name[0]}, {@code name[1]}, ...: joined back into the
   * comma-separated text idem reads.
   */
  static Map<String, String> flatten(Map<String, String> bound) {
    Map<String, String> out = new LinkedHashMap<>();
    Map<String, TreeMap<Integer, String>> lists = new LinkedHashMap<>();
    bound.forEach(
        (k, v) -> {
          Matcher m = INDEXED.matcher(k);
          if (m.matches()) {
            lists
                .computeIfAbsent(m.group(1), x -> new TreeMap<>())
                .put(Integer.parseInt(m.group(2) != null ? m.group(2) : m.group(3)), v);
          } else {
            out.put(k, v);
          }
        });
    lists.forEach((k, items) -> out.put(k, String.join(",", items.values())));
    return out;
  }

  static Map<String, String> springKafka(Binder binder) {
    Map<String, String> kafka = new LinkedHashMap<>();
    binder
        .bind("spring.kafka.bootstrap-servers", Bindable.listOf(String.class))
        .ifBound(servers -> kafka.put("bootstrap.servers", String.join(",", servers)));
    binder
        .bind("spring.kafka.consumer.bootstrap-servers", Bindable.listOf(String.class))
        .ifBound(servers -> kafka.put("bootstrap.servers", String.join(",", servers)));
    binder
        .bind("spring.kafka.security.protocol", String.class)
        .ifBound(p -> kafka.put("security.protocol", p));
    binder
        .bind("spring.kafka.properties", FLAT)
        .ifBound(
            props ->
                props.forEach(
                    (k, v) -> {
                      if (CONNECTION_KEY.matcher(k).matches()) {
                        kafka.put(k, v);
                      }
                    }));
    return kafka;
  }
}
