package dev.idem.consumer;

import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/** Ready-made {@link OrderingKey}s. */
public final class OrderingKeys {
  private static final ObjectMapper JSON = new ObjectMapper();

  private OrderingKeys() {}

  /** The record key (the default): one key's records run in offset order. Null keys: unordered. */
  public static OrderingKey recordKey() {
    return record -> record.key() == null ? null : ByteBuffer.wrap(record.key());
  }

  /** No ordering: every record of a partition may run concurrently with the others. */
  public static OrderingKey none() {
    return record -> null;
  }

  /** The same key for every record: each partition is processed strictly in offset order. */
  public static OrderingKey partition() {
    return record -> Boolean.TRUE;
  }

  /** The last header named {@code name}; records without it are unordered. */
  public static OrderingKey header(String name) {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("header name must not be blank");
    }
    return record -> {
      Header h = record.headers().lastHeader(name);
      return h == null || h.value() == null ? null : ByteBuffer.wrap(h.value());
    };
  }

  /**
   * A field of the JSON value at an RFC 6901 pointer; records without it are unordered. Parses the
   * value on the poll thread: prefer {@link #recordKey()} when producers key records already.
   */
  public static OrderingKey jsonPointer(String pointer) {
    JsonPointer compiled = JsonPointer.compile(Objects.requireNonNull(pointer, "pointer"));
    return record -> {
      if (record.value() == null) {
        return null;
      }
      JsonNode node = JSON.readTree(record.value()).at(compiled);
      return node.isMissingNode() || node.isNull() ? null : node.toString();
    };
  }

  /** A function of the record. */
  public static OrderingKey of(Function<ConsumerRecord<byte[], byte[]>, Object> function) {
    Objects.requireNonNull(function, "function");
    return function::apply;
  }
}
