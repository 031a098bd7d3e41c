package dev.idem.lock.internal;

import com.zaxxer.hikari.HikariCredentialsProvider;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.util.Credentials;
import com.zaxxer.hikari.util.DriverDataSource;
import com.zaxxer.hikari.util.PropertyElf;
import com.zaxxer.hikari.util.UtilityElf;
import dev.idem.lock.ConnectionFactory;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;

/**
 * New driver connections to the server of a HikariCP pool, opened the way the pool opens its own:
 * through the data source underneath the pool, with the pool's credentials. So the driver settings
 * of the pool (its URL, {@code dataSourceProperties} such as {@code sslmode} or {@code
 * socketTimeout}, or the bean properties of its {@code dataSourceClassName}) hold for lock
 * connections too. Settings the pool applies to its connections after opening them ({@code
 * connectionInitSql}, {@code schema}, isolation, read-only) do not: lock connections only run the
 * toolkit's own, schema-qualified statements.
 *
 * <p>The data source underneath is looked up at each {@link #open()} rather than once, because a
 * {@link HikariDataSource} built without a {@code HikariConfig} starts at its first {@code
 * getConnection()}. Once the pool runs, its own underlying data source is used (HikariCP 7's {@code
 * unwrap} hands it out: a {@link DriverDataSource} for a {@code jdbcUrl} pool, an instance of the
 * {@code dataSourceClassName} otherwise). Before that, one is built from the pool's configuration
 * exactly as the pool will build its own. Nothing is ever borrowed from the pool.
 */
public final class HikariLockConnections implements ConnectionFactory {
  private static final String USE = "ConnectionFactory.sameServerAs(pool)";

  private final HikariDataSource pool;
  private volatile DataSource poolsOwn;
  private volatile DataSource standIn;

  /**
   * Lock connections for the server of {@code pool}.
   *
   * @throws IllegalArgumentException when the pool was given a data source that is itself a pool
   */
  /**
   * Lock connections for a HikariCP pool, or a wrapper that unwraps to one. Callers check {@link
   * KnownPools#isHikari} first: this class needs HikariCP on the class path.
   */
  public static HikariLockConnections of(DataSource pool) {
    if (pool instanceof HikariDataSource hikari) {
      return new HikariLockConnections(hikari);
    }
    try {
      return new HikariLockConnections(pool.unwrap(HikariDataSource.class));
    } catch (SQLException e) {
      throw new IllegalArgumentException(
          pool.getClass().getName() + " says it wraps a HikariCP pool but does not unwrap to one",
          e);
    }
  }

  private HikariLockConnections(HikariDataSource pool) {
    this.pool = Objects.requireNonNull(pool, "pool");
    if (pool.getDataSource() != null) {
      KnownPools.refuse(pool.getDataSource(), USE);
    }
  }

  @Override
  public Connection open() throws SQLException {
    DataSource driver = underlying();
    // The pool asks its data source for (user, password) whenever a user name is set, so that a
    // credentials provider can rotate them; lock connections follow the same rule.
    Credentials credentials = credentials();
    String user = credentials == null ? null : credentials.getUsername();
    return user == null
        ? driver.getConnection()
        : driver.getConnection(user, credentials.getPassword());
  }

  private DataSource underlying() {
    DataSource ds = poolsOwn;
    if (ds != null) {
      return ds;
    }
    ds = pool.getDataSource();
    if (ds == null && pool.isRunning()) {
      ds = unwrapRunningPool().orElse(null);
    }
    if (ds != null) {
      KnownPools.refuse(ds, USE);
      poolsOwn = ds;
      return ds;
    }
    ds = standIn;
    if (ds == null) {
      ds = buildLikeThePool();
      standIn = ds;
    }
    return ds;
  }

  /**
   * The running pool's own data source; empty when it cannot be unwrapped (its class was loaded by
   * another class loader), in which case one built like it serves as well.
   */
  private Optional<DataSource> unwrapRunningPool() {
    try {
      Class<? extends DataSource> type =
          pool.getDataSourceClassName() != null
              ? Class.forName(pool.getDataSourceClassName(), false, loader())
                  .asSubclass(DataSource.class)
              : pool.getJdbcUrl() != null ? DriverDataSource.class : null;
      if (type == null) {
        throw notDerivable();
      }
      DataSource ds = pool.unwrap(type);
      return ds == null || ds == pool ? Optional.empty() : Optional.of(ds);
    } catch (SQLException | ClassNotFoundException | ClassCastException e) {
      return Optional.empty();
    }
  }

  /** The same data source the pool builds for itself in {@code PoolBase.initializeDataSource}. */
  private DataSource buildLikeThePool() {
    DataSource ds;
    if (pool.getDataSourceClassName() != null) {
      ds = UtilityElf.createInstance(pool.getDataSourceClassName(), DataSource.class);
      PropertyElf.setTargetFromProperties(ds, pool.getDataSourceProperties());
    } else if (pool.getJdbcUrl() != null) {
      Credentials c = credentials();
      ds =
          new DriverDataSource(
              pool.getJdbcUrl(),
              pool.getDriverClassName(),
              pool.getDataSourceProperties(),
              c == null ? null : c.getUsername(),
              c == null ? null : c.getPassword());
    } else {
      throw notDerivable();
    }
    // The pool bounds connecting by its connectionTimeout; so must a leader's reconnect.
    if (pool.getConnectionTimeout() != Integer.MAX_VALUE) {
      try {
        ds.setLoginTimeout(
            Math.max(1, (int) TimeUnit.MILLISECONDS.toSeconds(500L + pool.getConnectionTimeout())));
      } catch (SQLException | RuntimeException e) {
        // As for the pool: a data source without a login timeout connects without one.
      }
    }
    return ds;
  }

  private Credentials credentials() {
    HikariCredentialsProvider provider = pool.getCredentialsProvider();
    return provider != null ? provider.getCredentials() : pool.getCredentials();
  }

  /** Where HikariCP looks for a {@code dataSourceClassName} first. */
  private static ClassLoader loader() {
    ClassLoader context = Thread.currentThread().getContextClassLoader();
    return context != null ? context : HikariDataSource.class.getClassLoader();
  }

  private IllegalStateException notDerivable() {
    return new IllegalStateException(
        "lock connections cannot be derived from the HikariCP pool "
            + pool.getPoolName()
            + (pool.getDataSourceJNDI() != null
                ? " (its connections come from JNDI, dataSourceJNDI="
                    + pool.getDataSourceJNDI()
                    + ")"
                : " (it has no jdbcUrl, dataSourceClassName or dataSource)")
            + ": use ConnectionFactory.fromUrl(url, user, password) or"
            + " ConnectionFactory.unpooled(dataSource) for the lock connections (for a consumer,"
            + " its builder's lockConnections(...))");
  }
}
