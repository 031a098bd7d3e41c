package dev.idem.consumer.internal.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The one codec of the {@code headers} column of dead letters: a JSON array of {@code {"key": ...,
 * "value": base64}} in the record's order. A key containing NUL travels as {@code "key_base64"}
 * (jsonb cannot hold {@code \u0000}, and a dead letter that cannot be written would block its
 * partition). A null value stays JSON null.
 */
public final class HeadersJson {
  private static final ObjectMapper JSON = new ObjectMapper();

  private HeadersJson() {}

  /** The headers as JSON text for the {@code headers} column. */
  public static String encode(Headers headers) {
    ArrayNode array = JSON.createArrayNode();
    for (Header h : headers) {
      ObjectNode header = array.addObject();
      if (h.key().indexOf('\0') >= 0) {
        header.put(
            "key_base64",
            Base64.getEncoder().encodeToString(h.key().getBytes(StandardCharsets.UTF_8)));
      } else {
        header.put("key", h.key());
      }
      header.put("value", h.value() == null ? null : Base64.getEncoder().encodeToString(h.value()));
    }
    return array.toString();
  }

  /**
   * Headers from the column's JSON text, in their original order.
   *
   * @throws IOException when the text is not what {@link #encode} writes
   */
  public static Headers decode(String json) throws IOException {
    RecordHeaders headers = new RecordHeaders();
    JsonNode array = JSON.readTree(json);
    if (array == null || !array.isArray()) {
      throw new IOException("headers are not a JSON array");
    }
    for (JsonNode h : array) {
      String key;
      if (h.hasNonNull("key_base64")) {
        key =
            new String(
                Base64.getDecoder().decode(h.get("key_base64").asText()), StandardCharsets.UTF_8);
      } else if (h.hasNonNull("key")) {
        key = h.get("key").asText();
      } else {
        throw new IOException("a header has no key");
      }
      JsonNode value = h.get("value");
      try {
        headers.add(
            key,
            value == null || value.isNull() ? null : Base64.getDecoder().decode(value.asText()));
      } catch (IllegalArgumentException e) {
        throw new IOException("header " + key + " has a value that is not base64", e);
      }
    }
    return headers;
  }
}
