package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The Kafka client properties idem builds: the consumer's (the user's, checked, with the settings
 * the contract depends on applied) and the producer's for dead letters and replays.
 */
public final class KafkaClientProperties {
  private static final String BYTES = ByteArrayDeserializer.class.getName();
  private static final List<String> DESERIALIZERS =
      List.of(
          ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
          ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
  private static final Map<String, String> PROTOCOL_CONSUMER_REJECTS =
      Map.of(
          "session.timeout.ms", "group.consumer.session.timeout.ms on the broker",
          "heartbeat.interval.ms", "group.consumer.heartbeat.interval.ms on the broker",
          "partition.assignment.strategy", "group.remote.assignor");

  /**
   * Consumer properties and what idem reads from them.
   *
   * @param properties the properties the consumer is created with
   * @param maxPollIntervalMs Kafka's {@code max.poll.interval.ms}
   * @param maxPollRecords Kafka's {@code max.poll.records}
   */
  public record Consumer(
      Map<String, Object> properties, int maxPollIntervalMs, int maxPollRecords) {}

  private KafkaClientProperties() {}

  /**
   * Refuses deserializers set by the user: idem sets its own. (A configuration built before, whose
   * properties hold idem's own, passes {@link #consumer}.)
   */
  public static void refuseDeserializers(Map<String, ?> given) {
    for (String key : DESERIALIZERS) {
      if (given.containsKey(key)) {
        throw deserializerRefused(key);
      }
    }
  }

  private static IdemConfigException deserializerRefused(String key) {
    return new IdemConfigException(
        "kafka." + key,
        "is not allowed: idem reads raw bytes so that a record it cannot read never stops"
            + " the poll loop; remove it and give the consumer a PayloadDeserializer");
  }

  /**
   * The consumer properties of the consumer {@code name}: {@code given}, checked, with auto-commit
   * off, read_committed, byte-array deserializers, and default group and client ids.
   *
   * @throws IdemConfigException naming the refused {@code kafka.*} key and the fix
   */
  public static Consumer consumer(String name, Map<String, ?> given) {
    Map<String, Object> props = new LinkedHashMap<>();
    given.forEach(
        (k, v) -> {
          if (v == null) {
            throw new IdemConfigException("kafka." + k, Kind.NO_VALUE);
          }
          props.put(k, v);
        });
    Object servers = props.get(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG);
    if (servers == null || servers.toString().isBlank()) {
      throw new IdemConfigException(
          "kafka.bootstrap.servers",
          "is missing; set it (or KAFKA_BOOTSTRAP_SERVERS) to the brokers, e.g. localhost:9092");
    }
    Object autoCommit = props.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
    if (autoCommit != null && !"false".equalsIgnoreCase(autoCommit.toString().trim())) {
      throw new IdemConfigException(
          "kafka.enable.auto.commit",
          autoCommit
              + " is not allowed: idem commits offsets after the database commit; remove the"
              + " setting");
    }
    Object isolation = props.get(ConsumerConfig.ISOLATION_LEVEL_CONFIG);
    if (isolation != null && !"read_committed".equals(isolation.toString().trim())) {
      throw new IdemConfigException(
          "kafka.isolation.level",
          isolation
              + " is not allowed: records of aborted producer transactions would be applied;"
              + " remove the setting (idem uses read_committed)");
    }
    for (String key : DESERIALIZERS) {
      if (props.containsKey(key) && !BYTES.equals(props.get(key).toString())) {
        throw deserializerRefused(key);
      }
    }
    String protocol = Objects.toString(props.get("group.protocol"), "classic").trim();
    if (protocol.equalsIgnoreCase("consumer")) {
      for (Map.Entry<String, String> rejected : PROTOCOL_CONSUMER_REJECTS.entrySet()) {
        if (props.containsKey(rejected.getKey())) {
          throw new IdemConfigException(
              "kafka." + rejected.getKey(),
              "is rejected by group.protocol=consumer; remove it (use "
                  + rejected.getValue()
                  + ")");
        }
      }
    }
    groupInstanceId(props.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), protocol);
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.putIfAbsent(ConsumerConfig.GROUP_ID_CONFIG, name);
    props.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "idem-" + name);
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, BYTES);
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, BYTES);
    ConsumerConfig parsed;
    try {
      parsed = new ConsumerConfig(props);
    } catch (ConfigException e) {
      throw Values.kafkaRefusal(e);
    }
    return new Consumer(
        Map.copyOf(props),
        parsed.getInt(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG),
        parsed.getInt(ConsumerConfig.MAX_POLL_RECORDS_CONFIG));
  }

  /**
   * Static membership: checked here, because Kafka checks the id only when the client is created on
   * the poll thread, after {@code start()} returned.
   */
  private static void groupInstanceId(Object id, String protocol) {
    if (id == null) {
      return;
    }
    if (!DeadLetterTopics.TOPIC.matcher(id.toString()).matches()) {
      throw new IdemConfigException(
          "kafka.group.instance.id",
          "'"
              + id
              + "' is not an id Kafka accepts; use 1 to 249 of a-z A-Z 0-9 . _ - (not . or ..),"
              + " e.g. the host name and an index");
    }
    if (protocol.equalsIgnoreCase("consumer")) {
      throw new IdemConfigException(
          "kafka.group.instance.id",
          "static membership does not survive a crash with group.protocol=consumer: the broker"
              + " refuses the restarted instance (UNRELEASED_INSTANCE_ID, fatal for the client)"
              + " until the dead member's session timed out; use group.protocol=classic (the"
              + " default) with group.instance.id, or remove group.instance.id");
    }
  }

  /**
   * Admin client properties derived from a client's: the connection and security settings (the keys
   * the admin client knows), with {@code clientId} as its id.
   */
  public static Map<String, Object> admin(Map<String, Object> client, String clientId) {
    Set<String> adminKeys = AdminClientConfig.configNames();
    Map<String, Object> props = new LinkedHashMap<>();
    client.forEach(
        (k, v) -> {
          if (adminKeys.contains(k) && !k.equals(AdminClientConfig.CLIENT_ID_CONFIG)) {
            props.put(k, v);
          }
        });
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, clientId);
    return Map.copyOf(props);
  }

  /**
   * Producer properties derived from the consumer's: the connection and security settings, for dead
   * letters and replays.
   */
  public static Map<String, Object> producer(String consumerName, Map<String, Object> consumer) {
    Map<String, Object> props = new LinkedHashMap<>();
    Set<String> producerKeys = ProducerConfig.configNames();
    consumer.forEach(
        (k, v) -> {
          if (producerKeys.contains(k)
              && !k.endsWith(".serializer")
              && !k.equals("client.id")
              && !k.equals("interceptor.classes")
              && !k.equals("metric.reporters")) {
            props.put(k, v);
          }
        });
    props.put("client.id", "idem-" + consumerName + "-producer");
    props.put("acks", "all");
    props.put("enable.idempotence", "true");
    props.put("max.block.ms", "10000");
    props.put("request.timeout.ms", "5000");
    props.put("delivery.timeout.ms", "15000");
    props.put("linger.ms", "0");
    // A dead letter is the source record plus idem's headers: the client must not refuse what the
    // source topic accepted. The dead-letter topic's max.message.bytes is the real limit.
    props.putIfAbsent("max.request.size", Integer.toString(16 * 1024 * 1024));
    props.putIfAbsent("buffer.memory", Long.toString(64L * 1024 * 1024));
    return props;
  }
}
