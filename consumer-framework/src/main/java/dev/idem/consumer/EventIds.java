package dev.idem.consumer;

import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/** Ready-made {@link EventIdExtractor}s and the rules every event id must meet. */
public final class EventIds {

  /**
   * The longest accepted event id, in bytes of UTF-8. Longer ids would make the processed-ids index
   * entry too large for a btree page.
   */
  public static final int MAX_BYTES = 512;

  private static final ObjectMapper JSON = new ObjectMapper();

  private EventIds() {}

  /**
   * The record key, read as UTF-8.
   *
   * <p>A key that is not valid UTF-8 is refused ({@link InvalidEventIdException}): decoding it
   * leniently would turn different ids into the same text, and one of the events would be skipped
   * as a duplicate of the other.
   */
  public static EventIdExtractor recordKey() {
    return record ->
        record.key() == null ? null : strictUtf8(record.key(), "the record key", record);
  }

  /**
   * The header named {@code name}, read as UTF-8 (for webhooks: {@code webhook-id}).
   *
   * <p>The record is refused ({@link InvalidEventIdException}) when the header is not valid UTF-8
   * (lenient decoding would give different ids the same text, so one event would be skipped as a
   * duplicate of the other), or when it appears more than once with different values (which copy
   * names the event is anyone's guess). Repeats of the same value are accepted.
   *
   * @throws IllegalArgumentException if the name is blank
   */
  public static EventIdExtractor header(String name) {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("header name must not be blank");
    }
    String what = "header " + name;
    return record -> {
      boolean seen = false;
      byte[] found = null;
      for (Header header : record.headers().headers(name)) {
        byte[] value = header.value();
        if (seen && !Arrays.equals(found, value)) {
          throw new InvalidEventIdException(
              what + " appears more than once with different values",
              record.topic(),
              record.partition(),
              record.offset());
        }
        seen = true;
        found = value;
      }
      return found == null ? null : strictUtf8(found, what, record);
    };
  }

  /**
   * A string or integer field of the JSON value at an RFC 6901 JSON Pointer, for example {@code
   * "/id"} or {@code "/data/event_id"}.
   *
   * @throws IllegalArgumentException if the pointer is not a valid JSON Pointer
   */
  public static EventIdExtractor jsonPointer(String pointer) {
    JsonPointer compiled;
    try {
      compiled = JsonPointer.compile(Objects.requireNonNull(pointer, "pointer"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a JSON Pointer: " + pointer, e);
    }
    if (compiled.matches()) {
      throw new IllegalArgumentException("the JSON Pointer must name a field, not the root");
    }
    return record -> {
      if (record.value() == null) {
        return null;
      }
      JsonNode node = JSON.readTree(record.value()).at(compiled);
      return node.isTextual() || node.isIntegralNumber() ? node.asText() : null;
    };
  }

  /** A function of the record, for ids built from several fields. */
  public static EventIdExtractor of(Function<ConsumerRecord<byte[], byte[]>, String> function) {
    Objects.requireNonNull(function, "function");
    return function::apply;
  }

  /**
   * Why {@code eventId} is not acceptable, or null when it is: null, blank, longer than {@value
   * #MAX_BYTES} bytes of UTF-8, or containing NUL.
   */
  public static String problem(String eventId) {
    if (eventId == null) {
      return "missing";
    }
    if (eventId.isBlank()) {
      return "blank";
    }
    if (eventId.indexOf('\0') >= 0) {
      return "contains NUL";
    }
    int bytes = eventId.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_BYTES) {
      return "longer than " + MAX_BYTES + " bytes of UTF-8 (" + bytes + ")";
    }
    return null;
  }

  private static String strictUtf8(
      byte[] bytes, String what, ConsumerRecord<byte[], byte[]> record) {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new InvalidEventIdException(
          what + " is not valid UTF-8", record.topic(), record.partition(), record.offset());
    }
  }
}
