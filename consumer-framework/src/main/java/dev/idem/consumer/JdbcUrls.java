package dev.idem.consumer;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * JDBC URLs made safe to log: a URL can carry credentials, and the start-up logs of idem and of the
 * applications built on it print the URL they connect to.
 *
 * <pre>{@code
 * log.info("connecting to {}", JdbcUrls.mask(url));
 * }</pre>
 */
public final class JdbcUrls {
  /** What a masked value is replaced with. */
  public static final String MASK = "****";

  // A parameter after ?, & or ; (pgjdbc and most drivers use ?/&, SQL Server and others ;).
  private static final Pattern PARAMETER = Pattern.compile("([?&;])([^=&;#]*)=([^&;#]*)");
  private static final Pattern SECRET_KEY = Pattern.compile(".*(password|passwd|pwd|secret|token)");

  private JdbcUrls() {}

  /**
   * The URL with every credential it carries replaced by {@value #MASK}: the password of a {@code
   * user:password@host} part, and the value of every parameter whose name ends in {@code password}
   * (also {@code sslpassword}), {@code passwd}, {@code pwd}, {@code secret} or {@code token}, in
   * any case and also when the name is percent-encoded. Everything else is kept as it was, so the
   * log still tells which server and database were used. Null stays null.
   */
  public static String mask(String url) {
    if (url == null) {
      return null;
    }
    return maskParameters(maskUserInfo(url));
  }

  /**
   * The password of {@code scheme://user:password@host}. The authority ends at the first {@code ?}
   * (where parameters start), and the user part at the last {@code @} before it, so a password
   * holding {@code /} or {@code @} unencoded is masked whole.
   */
  private static String maskUserInfo(String url) {
    int slashes = url.indexOf("//");
    if (slashes < 0) {
      return url;
    }
    int start = slashes + 2;
    int query = url.indexOf('?', start);
    int end = query < 0 ? url.length() : query;
    int at = url.lastIndexOf('@', end - 1);
    if (at < start) {
      return url;
    }
    int colon = url.indexOf(':', start);
    if (colon < 0 || colon > at) {
      return url; // a user name alone is no secret
    }
    return url.substring(0, colon + 1) + MASK + url.substring(at);
  }

  private static String maskParameters(String url) {
    Matcher m = PARAMETER.matcher(url);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String replacement = isSecret(m.group(2)) ? m.group(1) + m.group(2) + "=" + MASK : m.group();
      m.appendReplacement(out, Matcher.quoteReplacement(replacement));
    }
    m.appendTail(out);
    return out.toString();
  }

  private static boolean isSecret(String name) {
    String decoded;
    try {
      decoded = URLDecoder.decode(name, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      decoded = name; // a stray % is no encoding; judge the name as written
    }
    return SECRET_KEY.matcher(decoded.trim().toLowerCase(Locale.ROOT)).matches();
  }
}
