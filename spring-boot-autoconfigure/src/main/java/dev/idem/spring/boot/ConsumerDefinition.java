package dev.idem.spring.boot;

import java.util.Map;

/**
 * One {@code idem.consumers.<name>} block, merged with {@code idem.defaults} and the Kafka
 * connection settings of {@code spring.kafka.*}.
 *
 * @param name the consumer's name (the block's key)
 * @param settings idem's own keys ({@code consumer.*}, {@code kafka.*}) and their text
 * @param origins for each of those keys, the property it came from, for error messages
 * @param enabled whether the consumer is built at all
 * @param handler the name of the handler bean
 * @param eventId where the event id comes from ({@code key}, {@code header:<name>}, {@code
 *     json:<pointer>} or {@code bean:<name>})
 * @param orderingKey which records run in order ({@code key}, {@code none}, {@code partition},
 *     {@code header:<name>}, {@code json:<pointer>} or {@code bean:<name>})
 * @param payloads the payload deserializer bean ({@code bean:<name>}), or null to derive one from
 *     the handler's payload type
 * @param failureClassifier the failure classifier bean ({@code bean:<name>}), or null for retrying
 *     every failure
 * @param groupType {@code consumer} (a consumer group, the default) or {@code share} (a share
 *     group)
 */
record ConsumerDefinition(
    String name,
    Map<String, String> settings,
    Map<String, String> origins,
    boolean enabled,
    String handler,
    String eventId,
    String orderingKey,
    String payloads,
    String failureClassifier,
    String groupType) {

  /** Whether the consumer reads a share group. */
  boolean shareGroup() {
    return groupType.equals("share");
  }

  /** The property a value of idem's {@code key} came from (or would be set with). */
  String propertyOf(String key) {
    String origin = origins.get(key);
    if (origin != null) {
      return origin;
    }
    String local = key.startsWith("consumer.") ? key.substring("consumer.".length()) : key;
    return "idem.consumers." + name + "." + local;
  }
}
