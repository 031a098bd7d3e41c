package dev.idem.spring.boot;

import dev.idem.consumer.PayloadDeserializer;
import org.springframework.beans.factory.ListableBeanFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * JSON payloads read with the application's Jackson 3 {@code JsonMapper}, Boot 4's default JSON
 * support (its modules and settings, such as {@code spring.jackson.*}, apply). Only loaded when
 * Jackson 3 is on the class path.
 */
final class Jackson3Payloads {
  private Jackson3Payloads() {}

  /** A deserializer with the application's mapper, or null when it has none. */
  static <T> PayloadDeserializer<T> fromBeans(ListableBeanFactory beans, Class<T> type) {
    JsonMapper mapper = beans.getBeanProvider(JsonMapper.class).getIfUnique();
    if (mapper == null) {
      return null;
    }
    return record -> {
      if (record.value() == null) {
        throw new IllegalArgumentException("the record has no value (tombstone)");
      }
      return mapper.readValue(record.value(), type);
    };
  }
}
