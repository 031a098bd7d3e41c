package dev.idem.consumer.internal.runtime;

import com.zaxxer.hikari.HikariDataSource;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.postgresql.ds.common.BaseDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds a user's pool whose pgjdbc connections wait forever for a reply (pgjdbc's {@code
 * socketTimeout} defaults to 0). A reply that never comes (a network partition, a dropped packet)
 * then holds a worker in a read no interrupt ends: during {@code COMMIT}, which the watchdog cannot
 * safely abort, until the operating system gives up on the connection (hours). idem's own pool,
 * from {@code pg.*}, sets one ({@link dev.idem.consumer.OwnedPool}).
 */
final class SocketTimeoutCheck {
  private static final Logger log = LoggerFactory.getLogger(SocketTimeoutCheck.class);
  private static final Pattern URL_PARAMETER =
      Pattern.compile("[?&]socketTimeout=([^&]*)", Pattern.CASE_INSENSITIVE);

  private SocketTimeoutCheck() {}

  /** Logs a warning once when {@code dataSource} is known to have no socket timeout. */
  static void warnIfMissing(String consumerName, DataSource dataSource) {
    missing(dataSource)
        .ifPresent(
            what ->
                log.warn(
                    "the pool given to consumer {} has no socket timeout ({}): a database reply"
                        + " that never comes holds a worker until the operating system drops the"
                        + " connection, and a COMMIT cannot be aborted safely. Set pgjdbc's"
                        + " socketTimeout (in seconds) above consumer.lock-timeout +"
                        + " consumer.handler-timeout, e.g. ?socketTimeout=150 in the JDBC URL or"
                        + " the data source property socketTimeout",
                    consumerName,
                    what));
  }

  /**
   * What shows that {@code dataSource} has no socket timeout, or empty when it has one or is not
   * known (a pool other than HikariCP over pgjdbc, or a wrapper).
   */
  static Optional<String> missing(DataSource dataSource) {
    if (dataSource instanceof BaseDataSource pg) {
      return pg.getSocketTimeout() > 0
          ? Optional.empty()
          : Optional.of(dataSource.getClass().getSimpleName() + ".socketTimeout is 0");
    }
    if (!(dataSource instanceof HikariDataSource hikari)) {
      return Optional.empty();
    }
    if (hikari.getDataSource() != null) {
      return missing(hikari.getDataSource());
    }
    String url = hikari.getJdbcUrl();
    if (url == null || !url.startsWith("jdbc:postgresql:")) {
      return Optional.empty();
    }
    Matcher m = URL_PARAMETER.matcher(url);
    if (m.find()) {
      // The URL's parameter wins over the data source property.
      return positive(m.group(1))
          ? Optional.empty()
          : Optional.of("socketTimeout=" + m.group(1) + " in the JDBC URL");
    }
    Object property = hikari.getDataSourceProperties().get("socketTimeout");
    if (property != null) {
      return positive(property.toString())
          ? Optional.empty()
          : Optional.of("data source property socketTimeout=" + property);
    }
    return Optional.of("no socketTimeout in the JDBC URL or the data source properties");
  }

  private static boolean positive(String seconds) {
    try {
      return Long.parseLong(seconds.trim()) > 0;
    } catch (NumberFormatException e) {
      return false;
    }
  }
}
