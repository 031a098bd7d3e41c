package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.config.ConfigException;

/** Parsing and printing of configuration values; every error names the key. */
public final class Values {
  private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");
  private static final Pattern KAFKA_NAME = Pattern.compile("for configuration ([^\\s:]+)");

  private Values() {}

  /**
   * A duration written as {@code 250ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code 7d} or in ISO
   * 8601 ({@code PT30S}): not negative, whole milliseconds (timeouts reach PostgreSQL and Kafka in
   * milliseconds, where a fraction would silently become 0, which means "no timeout"), and at most
   * {@link #MAX_DURATION} (longer ones overflow a count of nanoseconds).
   */
  public static Duration duration(String key, String raw) {
    Duration d = parseDuration(key, raw);
    if (d.compareTo(MAX_DURATION) > 0) {
      throw tooLong(key, raw);
    }
    if (d.toNanos() % 1_000_000 != 0) {
      throw new IdemConfigException(
          key, "'" + raw + "' has a fraction of a millisecond; use whole milliseconds, e.g. 250ms");
    }
    return d;
  }

  /**
   * Refuses a duration that {@link #duration} would refuse (negative, a fraction of a millisecond,
   * too long), and zero unless {@code zeroAllowed}.
   */
  public static void checkDuration(String key, Duration d, boolean zeroAllowed) {
    if (d.isNegative()) {
      throw new IdemConfigException(
          key, "must not be negative, was " + format(d) + "; use a positive duration");
    }
    if (d.compareTo(MAX_DURATION) > 0) {
      throw tooLong(key, format(d));
    }
    if (d.getNano() % 1_000_000 != 0) {
      throw new IdemConfigException(
          key,
          "'"
              + format(d)
              + "' has a fraction of a millisecond; use whole milliseconds, e.g. 250ms");
    }
    if (!zeroAllowed && d.isZero()) {
      throw new IdemConfigException(key, "must be positive, was 0");
    }
  }

  /** Refuses a number outside {@code [min, max]}, as {@link #integer} does. */
  public static void checkRange(String key, long value, long min, long max) {
    if (value < min || value > max) {
      throw new IdemConfigException(
          key, value + " is out of range; use a number from " + min + " to " + max);
    }
  }

  /** The longest duration accepted: what a signed 64-bit count of nanoseconds holds, in days. */
  public static final Duration MAX_DURATION = Duration.ofDays(Long.MAX_VALUE / 86_400_000_000_000L);

  private static Duration parseDuration(String key, String raw) {
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
          throw new IdemConfigException(
              key, "must not be negative, was " + raw + "; use a positive duration");
        }
        return d;
      }
    } catch (NumberFormatException | ArithmeticException e) {
      // Digits and a unit that overflow a long or a Duration.
      throw tooLong(key, raw);
    } catch (DateTimeParseException e) {
      if (e.getCause() instanceof ArithmeticException) {
        throw tooLong(key, raw);
      }
      // Falls through to the common message.
    }
    throw new IdemConfigException(
        key, "'" + raw + "' is not a duration; write e.g. 250ms, 30s, 5m, 1h, 7d or PT30S");
  }

  private static IdemConfigException tooLong(String key, String raw) {
    return new IdemConfigException(
        key, "'" + raw + "' is too long; use at most " + MAX_DURATION.toDays() + "d");
  }

  /** An integer in {@code [min, max]}. */
  public static int integer(String key, String raw, int min, int max) {
    int value;
    try {
      value = Integer.parseInt(raw.trim());
    } catch (NumberFormatException | NullPointerException e) {
      throw new IdemConfigException(
          key, "'" + raw + "' is not a whole number; use a number from " + min + " to " + max);
    }
    if (value < min || value > max) {
      throw new IdemConfigException(
          key, value + " is out of range; use a number from " + min + " to " + max);
    }
    return value;
  }

  /** {@code true} or {@code false}, in any case; anything else is refused. */
  public static boolean bool(String key, String raw) {
    String value = raw == null ? "" : raw.trim().toLowerCase(Locale.ROOT);
    if (value.equals("true") || value.equals("false")) {
      return value.equals("true");
    }
    throw new IdemConfigException(key, "'" + raw + "' is not a boolean; write true or false");
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
    throw new IdemConfigException(
        key, "'" + raw + "' is not a finite number; write a decimal number such as 1.5");
  }

  /** A comma-separated list, blanks dropped. */
  public static List<String> list(String raw) {
    if (raw == null) {
      return List.of();
    }
    return Arrays.stream(raw.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  /** A duration the way {@link #duration} reads it; null stays null. */
  public static String format(Duration d) {
    if (d == null) {
      return null;
    }
    if (d.getNano() % 1_000_000 != 0 || d.isNegative() || d.compareTo(MAX_DURATION) > 0) {
      return d.toString(); // refused with the key's name when read back
    }
    long ms = d.toMillis();
    if (ms % 1000 != 0) {
      return ms + "ms";
    }
    return (ms / 1000) + "s";
  }

  /**
   * Kafka's refusal of a consumer property, under the property's key ({@code kafka.<name>}) when
   * Kafka's message names it.
   */
  public static IdemConfigException kafkaRefusal(ConfigException e) {
    String message = String.valueOf(e.getMessage());
    Matcher m = KAFKA_NAME.matcher(message);
    if (m.find()) {
      String key = "kafka." + m.group(1);
      return new IdemConfigException(key, message + "; correct or remove " + key);
    }
    return new IdemConfigException(
        "kafka", message + " (keys are under kafka.); correct or remove the setting");
  }

  /** The value, or {@code ****} when the key names a secret. */
  public static Object maskIfSecret(String key, Object value) {
    String k = key.toLowerCase(Locale.ROOT);
    boolean secret =
        k.contains("password") || k.contains("secret") || k.contains("jaas") || k.endsWith("key");
    return secret && value != null ? "****" : value;
  }
}
