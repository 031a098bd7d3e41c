package dev.idem.consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** Ready-made {@link PayloadDeserializer}s. */
public final class Payloads {
  private static final ObjectMapper DEFAULT_MAPPER = new ObjectMapper();

  private Payloads() {}

  /** The record value as raw bytes (may be null for tombstones). */
  public static PayloadDeserializer<byte[]> bytes() {
    return record -> record.value();
  }

  /** The record value as UTF-8 text. */
  public static PayloadDeserializer<String> utf8() {
    return record ->
        record.value() == null ? null : new String(record.value(), StandardCharsets.UTF_8);
  }

  /** The record value as a JSON tree. A null value is rejected. */
  public static PayloadDeserializer<JsonNode> jsonTree() {
    return record -> DEFAULT_MAPPER.readTree(requireValue(record.value()));
  }

  /** The record value as JSON bound to {@code type} with a default {@link ObjectMapper}. */
  public static <T> PayloadDeserializer<T> json(Class<T> type) {
    return json(DEFAULT_MAPPER, type);
  }

  /** The record value as JSON bound to {@code type} with the given mapper. */
  public static <T> PayloadDeserializer<T> json(ObjectMapper mapper, Class<T> type) {
    Objects.requireNonNull(mapper, "mapper");
    Objects.requireNonNull(type, "type");
    return record -> mapper.readValue(requireValue(record.value()), type);
  }

  private static byte[] requireValue(byte[] value) {
    if (value == null) {
      throw new IllegalArgumentException("the record has no value (tombstone)");
    }
    return value;
  }
}
