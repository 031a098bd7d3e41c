package dev.idem.consumer.observation;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * A W3C Trace Context {@code traceparent} value ({@code 00-<trace id>-<parent id>-<flags>}), as
 * carried in a Kafka record's headers.
 *
 * @param traceId 32 lowercase hex digits, not all zero
 * @param spanId 16 lowercase hex digits, not all zero
 * @param sampled whether the sampled flag is set
 */
public record Traceparent(String traceId, String spanId, boolean sampled) {
  /** The header that carries it. */
  public static final String HEADER = "traceparent";

  /** The companion header of vendor-specific state, removed together with {@link #HEADER}. */
  public static final String STATE_HEADER = "tracestate";

  /**
   * The header a replay moves a dead letter's {@code traceparent} to: the replayed record starts a
   * new trace, linked to the original one.
   */
  public static final String LINKED_HEADER = "idem.linked-traceparent";

  /** Parses {@code value}; null when it is null or not a valid version-00 (or later) value. */
  public static Traceparent parse(String value) {
    if (value == null) {
      return null;
    }
    String v = value.trim().toLowerCase(Locale.ROOT);
    String[] parts = v.split("-", -1);
    if (parts.length < 4
        || parts[0].length() != 2
        || parts[0].equals("ff")
        || (parts[0].equals("00") && parts.length != 4)
        || !hex(parts[0], 2)
        || !hex(parts[1], 32)
        || !hex(parts[2], 16)
        || !hex(parts[3], 2)
        || zeros(parts[1])
        || zeros(parts[2])) {
      return null;
    }
    boolean sampled = (Integer.parseInt(parts[3], 16) & 1) == 1;
    return new Traceparent(parts[1], parts[2], sampled);
  }

  /** The parsed value of the last {@code name} header of {@code headers}, or null. */
  public static Traceparent fromHeaders(Headers headers, String name) {
    Header h = headers.lastHeader(name);
    return h == null || h.value() == null
        ? null
        : parse(new String(h.value(), StandardCharsets.UTF_8));
  }

  /** The header value. */
  @Override
  public String toString() {
    return "00-" + traceId + "-" + spanId + (sampled ? "-01" : "-00");
  }

  private static boolean hex(String s, int length) {
    if (s.length() != length) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    return true;
  }

  private static boolean zeros(String s) {
    return s.chars().allMatch(c -> c == '0');
  }
}
