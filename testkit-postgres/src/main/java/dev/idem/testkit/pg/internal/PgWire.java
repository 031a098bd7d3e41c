package dev.idem.testkit.pg.internal;

import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/** What the PostgreSQL proxy needs to know about the version 3 wire protocol. */
public final class PgWire {
  /** Request codes of the startup packets that carry no type byte. */
  static final int CANCEL_REQUEST = 80877102;

  static final int SSL_REQUEST = 80877103;
  static final int GSSENC_REQUEST = 80877104;

  /** The server refuses longer startup packets (MAX_STARTUP_PACKET_LENGTH in its sources). */
  static final int MAX_STARTUP_LENGTH = 10_000;

  /**
   * COMMIT, END and COMMIT PREPARED in every spelling the grammar allows, as the whole statement.
   * Comments inside the statement are not recognised; a multi-statement string containing a COMMIT
   * is not a commit statement.
   */
  private static final Pattern COMMIT =
      Pattern.compile(
          "\\s*(?:(?:commit|end)(?:\\s+(?:work|transaction))?(?:\\s+and\\s+(?:no\\s+)?chain)?"
              + "|commit\\s+prepared\\s+'(?:[^']|'')*')\\s*;?\\s*",
          Pattern.CASE_INSENSITIVE | Pattern.DOTALL);

  private PgWire() {}

  /** Whether the SQL text is exactly one statement that commits a transaction. */
  public static boolean isCommit(String sql) {
    return sql != null && COMMIT.matcher(sql).matches();
  }

  /**
   * Whether a CommandComplete tag reports a commit. A COMMIT of a failed transaction completes with
   * the tag ROLLBACK.
   */
  public static boolean committed(String tag) {
    return "COMMIT".equals(tag) || "COMMIT PREPARED".equals(tag);
  }

  /** Reads NUL-terminated strings from the start of a message body. */
  static final class Fields {
    private final byte[] bytes;
    private int position;

    Fields(byte[] bytes) {
      this.bytes = bytes;
    }

    /** The next string, or null when its terminator lies beyond the bytes at hand. */
    String next() {
      for (int i = position; i < bytes.length; i++) {
        if (bytes[i] == 0) {
          String value = new String(bytes, position, i - position, StandardCharsets.UTF_8);
          position = i + 1;
          return value;
        }
      }
      position = bytes.length;
      return null;
    }

    /** The next single byte, or -1 at the end. */
    int nextByte() {
      return position < bytes.length ? bytes[position++] & 0xff : -1;
    }
  }
}
