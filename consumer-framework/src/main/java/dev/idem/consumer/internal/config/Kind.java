package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * The type of a setting: how a value is read from text, checked and printed. Reading checks too, so
 * a value from a file and a value from a typed setter are refused with the same message.
 *
 * @param text the type as the reference documentation names it
 * @param nulls whether null is a value (a setting that is off, a pool that is not configured)
 * @param missing what a refusal of null says, after the key
 * @param parser reads a value from text (without the check)
 * @param check refuses a value that is not null; throws {@link IdemConfigException}
 * @param printer prints a value for the start-up log; null means "leave the line out"
 * @param <T> the value's type
 */
public record Kind<T>(
    String text,
    Nulls nulls,
    String missing,
    Parser<T> parser,
    Check<T> check,
    Function<T, String> printer) {

  /** Whether a setting's value may be null. */
  public enum Nulls {
    /** Null is refused, with the kind's {@code missing} text. */
    REFUSED,
    /** Null is a value: a setting that is off, or a pool that is not configured. */
    ALLOWED
  }

  /** Whether null is a value of this kind. */
  public boolean optional() {
    return nulls == Nulls.ALLOWED;
  }

  /** What a refusal of null says when a setting has no more specific advice. */
  public static final String NO_VALUE = "is null; give it a value or leave the setting out";

  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

  /** Reads a value from text; throws {@link IdemConfigException} naming the key. */
  @FunctionalInterface
  public interface Parser<T> {
    /** The value {@code raw} stands for. */
    T parse(String key, String raw);
  }

  /** Refuses a value; throws {@link IdemConfigException} naming the key. */
  @FunctionalInterface
  public interface Check<T> {
    /** Throws when {@code value} (never null) is refused. */
    void check(String key, T value);
  }

  /** The same type, with null standing for "off" (read from and printed as {@code off}). */
  public Kind<T> orOff() {
    Parser<T> inner = parser;
    Function<T, String> print = printer;
    return new Kind<>(
        text + " or off",
        Nulls.ALLOWED,
        missing,
        (key, raw) -> raw.trim().equalsIgnoreCase("off") ? null : inner.parse(key, raw),
        check,
        v -> v == null ? "off" : print.apply(v));
  }

  /** The same type, with null standing for "not configured" (and left out of the log). */
  public Kind<T> orAbsent() {
    Function<T, String> print = printer;
    return new Kind<>(
        text, Nulls.ALLOWED, missing, parser, check, v -> v == null ? null : print.apply(v));
  }

  /** The same type, printed by {@code print} (for secrets). */
  public Kind<T> printedAs(Function<T, String> print) {
    return new Kind<>(text, nulls, missing, parser, check, print);
  }

  /**
   * A positive duration ({@code 250ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code 7d}, ISO 8601),
   * whole milliseconds, at most {@link Values#MAX_DURATION}. Printed in ISO 8601, which reads back.
   */
  public static Kind<Duration> duration() {
    return duration(false);
  }

  /** A duration as {@link #duration()} reads it, zero included. */
  public static Kind<Duration> durationOrZero() {
    return duration(true);
  }

  private static Kind<Duration> duration(boolean zeroAllowed) {
    return new Kind<>(
        zeroAllowed ? "duration" : "positive duration",
        Nulls.REFUSED,
        NO_VALUE,
        Values::duration,
        (key, d) -> Values.checkDuration(key, d, zeroAllowed),
        Duration::toString);
  }

  /** A positive duration of at most {@code max}; {@code why} explains the bound. */
  public static Kind<Duration> durationAtMost(Duration max, String why) {
    Kind<Duration> d = duration();
    return new Kind<>(
        "positive duration, at most " + Values.format(max),
        Nulls.REFUSED,
        NO_VALUE,
        d.parser,
        (key, value) -> {
          Values.checkDuration(key, value, false);
          if (value.compareTo(max) > 0) {
            throw new IdemConfigException(
                key, Values.format(value) + " is too long: " + why + "; use at most " + max(max));
          }
        },
        Duration::toString);
  }

  private static String max(Duration max) {
    return max.toSeconds() % 60 == 0 ? max.toMinutes() + "m" : Values.format(max);
  }

  /** A whole number from {@code min} to {@code max}. */
  public static Kind<Integer> integer(int min, int max) {
    return new Kind<>(
        "integer " + min + ".." + max,
        Nulls.REFUSED,
        NO_VALUE,
        (key, raw) -> Values.integer(key, raw, min, max),
        (key, v) -> Values.checkRange(key, v, min, max),
        String::valueOf);
  }

  /** A whole number from {@code min} to {@code max}, held in a long. */
  public static Kind<Long> longInteger(int min, int max) {
    return new Kind<>(
        "integer " + min + ".." + max,
        Nulls.REFUSED,
        NO_VALUE,
        (key, raw) -> (long) Values.integer(key, raw, min, max),
        (key, v) -> Values.checkRange(key, v, min, max),
        String::valueOf);
  }

  /** {@code true} or {@code false}. */
  public static Kind<Boolean> bool() {
    return new Kind<>(
        "true or false", Nulls.REFUSED, NO_VALUE, Values::bool, (k, v) -> {}, String::valueOf);
  }

  /** A finite decimal number. */
  public static Kind<Double> decimal() {
    return new Kind<>(
        "decimal",
        Nulls.REFUSED,
        NO_VALUE,
        Values::decimal,
        (key, v) -> Values.decimal(key, Double.toString(v)),
        String::valueOf);
  }

  /** Text that is not blank, taken as written. */
  public static Kind<String> plainText() {
    return new Kind<>(
        "text",
        Nulls.REFUSED,
        NO_VALUE,
        (key, raw) -> raw,
        (key, v) -> {
          if (v.isBlank()) {
            throw new IdemConfigException(key, "must not be blank");
          }
        },
        v -> v);
  }

  /** Any text, taken as written (a user name, a password). */
  public static Kind<String> anyText() {
    return new Kind<>("text", Nulls.REFUSED, NO_VALUE, (key, raw) -> raw, (key, v) -> {}, v -> v);
  }

  /** A lower-case SQL identifier. */
  public static Kind<String> identifier() {
    return new Kind<>(
        "SQL identifier",
        Nulls.REFUSED,
        NO_VALUE,
        (key, raw) -> raw,
        (key, v) -> {
          if (!IDENTIFIER.matcher(v).matches()) {
            throw new IdemConfigException(
                key,
                "'"
                    + v
                    + "' is not allowed: use a lower-case SQL identifier ([a-z_][a-z0-9_]*, at"
                    + " most 63 characters)");
          }
        },
        v -> v);
  }

  /**
   * One of a few names, in any case; {@code names} maps each accepted name to its value (the first
   * name of a value is the one printed); a refusal says {@code 'raw' is not <what>; <advice>}.
   */
  public static <E> Kind<E> choice(Map<String, E> names, String what, String advice) {
    Map<E, String> printed = new LinkedHashMap<>();
    names.forEach((name, value) -> printed.putIfAbsent(value, name));
    return new Kind<>(
        "one of " + String.join(", ", printed.values()),
        Nulls.REFUSED,
        NO_VALUE,
        (key, raw) -> {
          E value = names.get(raw.trim().toLowerCase(Locale.ROOT));
          if (value == null) {
            throw new IdemConfigException(key, "'" + raw + "' is not " + what + "; " + advice);
          }
          return value;
        },
        (key, v) -> {},
        printed::get);
  }

  /** A comma-separated list of texts, each checked by {@code element}. */
  public static Kind<List<String>> list(String missing, Check<String> element) {
    return new Kind<>(
        "comma-separated list",
        Nulls.REFUSED,
        missing,
        (key, raw) -> Values.list(raw),
        (key, v) -> {
          if (v.isEmpty()) {
            throw new IdemConfigException(key, missing);
          }
          v.forEach(e -> element.check(key, e));
        },
        v -> String.join(",", v));
  }
}
