package dev.idem.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Seeds and hostile values for the bad-input tests.
 *
 * <p>Every fuzz test draws from one {@link Random} seeded by {@link #seed(Class)}: a fresh seed per
 * run, printed at the start, or the one given with {@code -Didem.fuzz.seed=N} to replay a failure.
 */
public final class Fuzz {
  /** The system property that replays a run. */
  public static final String SEED_PROPERTY = "idem.fuzz.seed";

  private static final String[] FIXED =
      new String[] {
        "",
        " ",
        "\t",
        "\n",
        " \r\n ",
        "-1",
        "0",
        "-0",
        "1",
        "+5",
        "2147483647",
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e309",
        "1e-400",
        "4.9e-324",
        "0.5",
        "1.5",
        "0x10",
        "1_000",
        "1,000",
        "\u0661\u0662", // Arabic-Indic digits
        "\uff11\uff12", // full-width digits
        "\u0967s",
        "5 parsecs",
        "-1ms",
        "-5s",
        "0ms",
        "0s",
        "P-1D",
        "PT-1S",
        "PT0S",
        "P0D",
        "PT0.0005S",
        "PT0.000000001S",
        "P1Y",
        "P1W",
        "1w",
        "1 h",
        "5S",
        "5MS",
        "5.5s",
        "9999999999999d",
        "99999999999999999999ms",
        "9223372036854775807ms",
        "9223372036854775807d",
        "106752d",
        "25d",
        "24d",
        "2147483648ms",
        "PT9999999999999999H",
        "PT2562047788015216H",
        "P999999999D",
        "off",
        "on",
        "true",
        "false",
        "null",
        "idem; DROP TABLE x",
        "x'; DROP TABLE students; --",
        "\"quoted\"",
        "a b",
        "A",
        "_",
        "9x",
        ".",
        "..",
        "{topic}",
        "{topic}{topic}",
        "${HOME}",
        "%s%n%x",
        "\u0000",
        "x\u0000y",
        "\ud800",
        "\u00e4\u00f1",
        "\u202e",
        "jdbc:postgresql:",
        "jdbc:postgresql://",
        "jdbc:mysql://h/db",
        "read_committed ",
        "serializable",
      };

  private Fuzz() {}

  /**
   * The seed of this run of {@code test}: {@code -Didem.fuzz.seed=N} or a fresh one, printed so a
   * failure can be replayed.
   */
  public static long seed(Class<?> test) {
    String given = System.getProperty(SEED_PROPERTY);
    long seed =
        given == null || given.isBlank()
            ? ThreadLocalRandom.current().nextLong()
            : Long.parseLong(given.trim());
    System.out.println(
        test.getSimpleName()
            + ": fuzz seed "
            + seed
            + " (replay with -D"
            + SEED_PROPERTY
            + "="
            + seed
            + ")");
    return seed;
  }

  /**
   * Values no configuration key should take as they are: the fixed hostile ones and {@code random}
   * mutations (random numbers, units, lengths, code points), {@code count} in all.
   */
  public static List<String> hostileValues(Random random, int count) {
    List<String> values = new ArrayList<>(List.of(FIXED));
    while (values.size() < count) {
      values.add(randomValue(random));
    }
    return values.subList(0, Math.max(count, 0));
  }

  private static String randomValue(Random random) {
    String[] units = {"ms", "s", "m", "h", "d", "", " ", "us", "ns", "y"};
    return switch (random.nextInt(8)) {
      case 0 -> Long.toString(random.nextLong());
      case 1 -> Long.toString(random.nextLong()) + units[random.nextInt(units.length)];
      case 2 -> Double.toString(random.nextGaussian() * Math.pow(10, random.nextInt(40)));
      case 3 -> "P" + (random.nextBoolean() ? "T" : "") + random.nextLong() + "S";
      case 4 -> "x".repeat(random.nextInt(300));
      case 5 -> randomText(random, 1 + random.nextInt(20));
      case 6 -> random.nextInt(100) + units[random.nextInt(units.length)] + randomText(random, 2);
      default -> new String(randomAscii(random, 1 + random.nextInt(30)));
    };
  }

  /** Random code points, including control characters, surrogates and non-Latin letters. */
  public static String randomText(Random random, int codePoints) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < codePoints; i++) {
      int kind = random.nextInt(4);
      if (kind == 0) {
        sb.append((char) random.nextInt(0x20));
      } else if (kind == 1) {
        sb.append((char) (0xd800 + random.nextInt(0x800))); // lone surrogates
      } else if (kind == 2) {
        sb.appendCodePoint(0x80 + random.nextInt(0x10000 - 0x80 - 0x800));
      } else {
        sb.append((char) (0x20 + random.nextInt(0x5f)));
      }
    }
    return sb.toString();
  }

  /** Random printable ASCII. */
  public static char[] randomAscii(Random random, int length) {
    char[] chars = new char[length];
    for (int i = 0; i < length; i++) {
      chars[i] = (char) (0x21 + random.nextInt(0x5e));
    }
    return chars;
  }
}
