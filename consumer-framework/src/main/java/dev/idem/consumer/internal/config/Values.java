package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parsing and printing of configuration values; every error names the key. */
public final class Values {
  private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");

  private Values() {}

  /**
   * A duration written as {@code 250ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code 7d} or in ISO
   * 8601 ({@code PT30S}).
   */
  public static Duration duration(String key, String raw) {
    String value = raw == null ? "" : raw.trim().toLowerCase(Locale.ROOT);
    Matcher m = DURATION.matcher(value);
    try {
      if (m.matches()) {
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
          case "ms" -> Duration.ofMillis(n);
          case "s" -> Duration.ofSeconds(n);
          case "m" -> Duration.ofMinutes(n);
          case "h" -> Duration.ofHours(n);
          default -> Duration.ofDays(n);
        };
      }
      if (value.startsWith("p")) {
        Duration d = Duration.parse(value.toUpperCase(Locale.ROOT));
        if (d.isNegative()) {
          throw new IdemConfigException(key, "must not be negative, was " + raw);
        }
        return d;
      }
    } catch (NumberFormatException | ArithmeticException | DateTimeParseException e) {
      // Falls through to the common message.
    }
    throw new IdemConfigException(
        key, "'" + raw + "' is not a duration; write e.g. 250ms, 30s, 5m, 1h, 7d or PT30S");
  }

  /** An integer in {@code [min, max]}. */
  public static int integer(String key, String raw, int min, int max) {
    int value;
    try {
      value = Integer.parseInt(raw.trim());
    } catch (NumberFormatException | NullPointerException e) {
      throw new IdemConfigException(key, "'" + raw + "' is not a whole number");
    }
    if (value < min || value > max) {
      throw new IdemConfigException(
          key, value + " is out of range; use a number from " + min + " to " + max);
    }
    return value;
  }

  /** A finite decimal number. */
  public static double decimal(String key, String raw) {
    try {
      double value = Double.parseDouble(raw.trim());
      if (Double.isFinite(value)) {
        return value;
      }
    } catch (NumberFormatException | NullPointerException e) {
      // Falls through.
    }
    throw new IdemConfigException(key, "'" + raw + "' is not a number");
  }

  /** A comma-separated list, blanks dropped. */
  public static List<String> list(String raw) {
    if (raw == null) {
      return List.of();
    }
    return Arrays.stream(raw.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  /** A duration the way {@link #duration} reads it. */
  public static String format(Duration d) {
    if (d.toNanos() % 1_000_000 != 0 || d.isNegative()) {
      return d.toString();
    }
    long ms = d.toMillis();
    if (ms % 1000 != 0) {
      return ms + "ms";
    }
    return (ms / 1000) + "s";
  }

  /** The value, or {@code ****} when the key names a secret. */
  public static Object maskIfSecret(String key, Object value) {
    String k = key.toLowerCase(Locale.ROOT);
    boolean secret =
        k.contains("password") || k.contains("secret") || k.contains("jaas") || k.endsWith("key");
    return secret && value != null ? "****" : value;
  }
}
