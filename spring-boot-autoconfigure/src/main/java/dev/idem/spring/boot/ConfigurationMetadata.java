package dev.idem.spring.boot;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.SettingInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Spring Boot configuration metadata for {@code idem.*}, generated from idem's settings table
 * ({@link IdemConfig#settings()}): the shipped {@code META-INF/spring-configuration-metadata.json}
 * is this class's output, and a test fails when the two differ. IDEs read that file from the jar to
 * complete and document the keys.
 *
 * <p>Why the final file and not {@code additional-spring-configuration-metadata.json}: Boot's
 * annotation processor merges the additional file only into metadata it generates for
 * {@code @ConfigurationProperties} classes, and this module has none (the settings are bound as
 * text and read by idem's own definitions), so it would write nothing.
 *
 * <p>Every setting is described under {@code idem.defaults.*}; {@code idem.consumers.<name>.*}
 * takes the same keys for one consumer (metadata cannot name a key below a map's key).
 */
final class ConfigurationMetadata {
  static final String FILE = "META-INF/spring-configuration-metadata.json";

  private ConfigurationMetadata() {}

  /** Rewrites the shipped file: {@code args[0]} is the module's directory. */
  public static void main(String[] args) throws IOException {
    Path file = Path.of(args.length > 0 ? args[0] : ".", "src", "main", "resources", FILE);
    Files.writeString(file, render(), StandardCharsets.UTF_8);
  }

  /** The metadata, as the shipped file holds it. */
  static String render() {
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = json.createObjectNode();
    ArrayNode groups = root.putArray("groups");
    group(groups, "idem", "idem's idempotent Kafka consumers.");
    group(
        groups,
        "idem.defaults",
        "Settings every consumer gets unless its own idem.consumers.<name> block sets them.");
    ArrayNode properties = root.putArray("properties");
    ArrayNode hints = root.putArray("hints");
    ArrayNode groupTypes =
        hints.addObject().put("name", "idem.defaults.group-type").putArray("values");
    groupTypes.addObject().put("value", "consumer");
    groupTypes.addObject().put("value", "share");
    property(
        properties, "idem.enabled", "java.lang.Boolean", "Whether idem's consumers run.", true);
    property(
        properties,
        "idem.apply-schema",
        "java.lang.Boolean",
        "Whether consumers apply idem's schema scripts at start (off: your migrations apply"
            + " them, and start checks the version).",
        true);
    property(
        properties,
        "idem.jpa-outside-handlers",
        "java.lang.Boolean",
        "Confirms that no handler uses JPA, so that an application with an EntityManagerFactory"
            + " may run idem's consumers (JPA in a handler does not join idem's transaction).",
        false);
    property(
        properties,
        "idem.consumers",
        "java.util.Map<java.lang.String,java.util.Map<java.lang.String,java.lang.String>>",
        "One block per consumer, keyed by the consumer's name: topics, event-id, handler (default:"
            + " the bean named like the consumer), enabled, and any key of idem.defaults.",
        null);
    property(
        properties,
        "idem.defaults.event-id",
        "java.lang.String",
        "Where an event's id comes from: key, header:<name>, json:<pointer> or bean:<an"
            + " EventIdExtractor bean>. Required, here or per consumer.",
        null);
    property(
        properties,
        "idem.defaults.ordering-key",
        "java.lang.String",
        "Which records of a partition run one at a time, in offset order: key, none, partition,"
            + " header:<name>, json:<pointer> or bean:<an OrderingKey bean>.",
        "key");
    property(
        properties,
        "idem.defaults.group-type",
        "java.lang.String",
        "consumer (a Kafka consumer group: order per key, at most one instance per partition) or"
            + " share (a share group: any number of instances, no order; see"
            + " docs/share-groups.md).",
        "consumer");
    property(
        properties,
        "idem.defaults.failure-classifier",
        "java.lang.String",
        "bean:<a FailureClassifier bean> that decides retry or give-up; default: retry every"
            + " failure.",
        null);
    property(
        properties,
        "idem.defaults.kafka",
        "java.util.Map<java.lang.String,java.lang.String>",
        "Kafka consumer properties (over spring.kafka.bootstrap-servers, security.protocol and"
            + " the connection keys of spring.kafka.properties).",
        null);
    outbox(groups, properties);
    for (SettingInfo s : IdemConfig.settings()) {
      if (!s.key().startsWith("consumer.") || s.key().equals("consumer.name")) {
        continue; // pg.*: the application's DataSource; the name: the block's key
      }
      String name = "idem.defaults." + s.key().substring("consumer.".length());
      ObjectNode p = properties.addObject();
      p.put("name", name);
      p.put("type", javaType(s.type()));
      p.put("description", s.doc() + ". Default: " + s.defaultText() + ".");
      if (s.type().startsWith("one of ")) {
        ArrayNode values = hints.addObject().put("name", name).putArray("values");
        for (String v : List.of(s.type().substring("one of ".length()).split(", "))) {
          values.addObject().put("value", v);
        }
      }
    }
    try {
      return json.writeValueAsString(root) + "\n";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The transactional outbox's keys (IdemOutboxConfiguration). */
  private static void outbox(ArrayNode groups, ArrayNode properties) {
    group(groups, "idem.outbox", "The transactional outbox and its relay (docs/outbox.md).");
    property(
        properties,
        "idem.outbox.enabled",
        "java.lang.Boolean",
        "Whether the application gets an Outbox bean and an OutboxRelay.",
        false);
    property(
        properties,
        "idem.outbox.schema",
        "java.lang.String",
        "The schema of the outbox table.",
        "idem");
    property(properties, "idem.outbox.table", "java.lang.String", "The outbox table.", "outbox");
    property(
        properties,
        "idem.outbox.max-record-bytes",
        "java.lang.Integer",
        "The largest record (key, value and headers) publish accepts; larger ones are refused at"
            + " publish time.",
        1_000_000);
    property(
        properties,
        "idem.outbox.relay.enabled",
        "java.lang.Boolean",
        "Whether this instance runs a relay (one instance of all publishes at a time); off on"
            + " instances that only write the outbox.",
        true);
    property(
        properties,
        "idem.outbox.relay.name",
        "java.lang.String",
        "The relay's name: its leader role and its producer's transactional id, shared by the"
            + " application's instances and by no other relay. Default: spring.application.name"
            + " (one of the two is required).",
        null);
    property(
        properties,
        "idem.outbox.relay.poll-interval",
        "java.time.Duration",
        "How often an idle relay looks for new rows (at least 10 ms).",
        "100ms");
    property(
        properties,
        "idem.outbox.relay.batch-size",
        "java.lang.Integer",
        "Rows per relay round, one Kafka transaction each.",
        500);
    property(
        properties,
        "idem.outbox.relay.retention",
        "java.time.Duration",
        "How long sent rows are kept.",
        "24h");
    property(
        properties,
        "idem.outbox.relay.kafka",
        "java.util.Map<java.lang.String,java.lang.String>",
        "Kafka producer properties of the relay (over spring.kafka.bootstrap-servers,"
            + " security.protocol and the connection keys of spring.kafka.properties).",
        null);
  }

  private static void group(ArrayNode groups, String name, String description) {
    groups.addObject().put("name", name).put("description", description);
  }

  private static void property(
      ArrayNode properties, String name, String type, String description, Object defaultValue) {
    ObjectNode p = properties.addObject();
    p.put("name", name);
    p.put("type", type);
    p.put("description", description);
    if (defaultValue instanceof Boolean b) {
      p.put("defaultValue", b);
    } else if (defaultValue != null) {
      p.put("defaultValue", defaultValue.toString());
    }
  }

  /** The Java type an IDE checks a value against; idem's own parser still reads the text. */
  static String javaType(String kind) {
    if (kind.endsWith(" or off")) {
      return "java.lang.String";
    }
    if (kind.contains("duration")) {
      return "java.time.Duration";
    }
    if (kind.startsWith("integer")) {
      return "java.lang.Long";
    }
    if (kind.equals("true or false")) {
      return "java.lang.Boolean";
    }
    if (kind.equals("decimal")) {
      return "java.lang.Double";
    }
    if (kind.startsWith("list") || kind.contains("comma")) {
      return "java.util.List<java.lang.String>";
    }
    return "java.lang.String";
  }
}
