package dev.idem.lock;

import dev.idem.lock.internal.HikariLockConnections;
import dev.idem.lock.internal.KnownPools;
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
   * New driver connections to the server of a HikariCP pool, opened the way the pool opens its own,
   * never borrowed from it: through the data source underneath the pool (for a {@code jdbcUrl} pool
   * the URL with its {@code dataSourceProperties}, such as {@code sslmode} or {@code
   * socketTimeout}; for a {@code dataSourceClassName} pool an instance of that class with those
   * properties) and with the pool's credentials. The pool may be started later: the data source is
   * looked up at each {@link #open()}. Settings the pool applies after opening a connection ({@code
   * connectionInitSql}, {@code schema}, isolation, read-only) are not applied.
   *
   * <p>The parameter is a {@code DataSource} so that HikariCP stays an optional dependency of this
   * library: pass a {@code com.zaxxer.hikari.HikariDataSource}, or a wrapper that unwraps to one.
   *
   * <p>{@link #open()} throws {@link IllegalStateException} for a pool whose connections come from
   * JNDI ({@code dataSourceJNDI}): use {@link #fromUrl} or {@link #unpooled} for those.
   *
   * @throws IllegalArgumentException when {@code pool} is not a HikariCP pool, or the pool's own
   *     {@code dataSource} is itself a pool
   */
  static ConnectionFactory sameServerAs(DataSource pool) {
    Objects.requireNonNull(pool, "pool");
    // Checked by class name first: HikariLockConnections needs HikariCP on the class path.
    if (!KnownPools.isHikari(pool)) {
      throw new IllegalArgumentException(
          "ConnectionFactory.sameServerAs(pool) takes a HikariCP pool (com.zaxxer.hikari"
              + ".HikariDataSource), not "
              + pool.getClass().getName()
              + "; for other data sources use ConnectionFactory.fromUrl(url, user, password) or"
              + " ConnectionFactory.unpooled(dataSource) with a data source that opens a new"
              + " driver connection each time");
    }
    return HikariLockConnections.of(pool);
  }

  /**
   * Connections from a data source that opens a new driver connection each time (such as {@code
   * org.postgresql.ds.PGSimpleDataSource}).
   *
   * @throws IllegalArgumentException for a connection pool, or a data source that wraps one ({@code
   *     isWrapperFor} or {@code unwrap}): HikariCP (use {@link #sameServerAs(DataSource)}),
   *     pgjdbc's {@code PGPoolingDataSource}, tomcat-jdbc, DBCP2, c3p0, Agroal and Vibur
   */
  static ConnectionFactory unpooled(DataSource dataSource) {
    Objects.requireNonNull(dataSource, "dataSource");
    KnownPools.refuse(dataSource, "ConnectionFactory.unpooled(dataSource)");
    return dataSource::getConnection;
  }
}
