package dev.idem.lock;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Objects;
import java.util.Properties;
import javax.sql.DataSource;

/**
 * Opens dedicated driver connections for session locks, singleton jobs and leader election: a
 * session lock lives as long as its connection, so it must never sit on a pooled one, where a
 * forgotten unlock would keep it for as long as the pool keeps the connection.
 */
@FunctionalInterface
public interface ConnectionFactory {

  /** A new connection that the caller closes. */
  Connection open() throws SQLException;

  /** Connections from a JDBC URL. */
  static ConnectionFactory fromUrl(String url, String user, String password) {
    Objects.requireNonNull(url, "url");
    Properties props = new Properties();
    if (user != null) {
      props.setProperty("user", user);
    }
    if (password != null) {
      props.setProperty("password", password);
    }
    props.setProperty("ApplicationName", "idem-locks");
    return () -> DriverManager.getConnection(url, props);
  }

  /**
   * Connections with the settings of a HikariCP pool, opened by the driver, not borrowed from the
   * pool.
   */
  static ConnectionFactory sameServerAs(com.zaxxer.hikari.HikariDataSource pool) {
    return fromUrl(pool.getJdbcUrl(), pool.getUsername(), pool.getPassword());
  }

  /**
   * Connections from a data source that opens a new driver connection each time (such as {@code
   * org.postgresql.ds.PGSimpleDataSource}).
   *
   * @throws IllegalArgumentException for a HikariCP pool: its connections are pooled; use {@link
   *     #sameServerAs(com.zaxxer.hikari.HikariDataSource)}
   */
  static ConnectionFactory unpooled(DataSource dataSource) {
    if (dataSource instanceof com.zaxxer.hikari.HikariDataSource) {
      throw new IllegalArgumentException(
          "a HikariCP pool would keep session locks on pooled connections; use"
              + " ConnectionFactory.sameServerAs(pool)");
    }
    return dataSource::getConnection;
  }
}
