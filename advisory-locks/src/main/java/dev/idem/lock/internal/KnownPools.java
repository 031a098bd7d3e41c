package dev.idem.lock.internal;

import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import javax.sql.DataSource;

/**
 * Recognizes connection pools among data sources, so that session locks are never put on pooled
 * connections. Pools are known by class name, so none of them is a compile dependency: a data
 * source is a pool when its class, a superclass or an interface has one of these names, or when it
 * says it wraps one ({@code isWrapperFor} or {@code unwrap}), as tracing and metrics wrappers do.
 */
public final class KnownPools {
  /** The pool types, each the type that every data source of that pool extends or implements. */
  static final List<String> POOL_TYPES =
      List.of(
          "com.zaxxer.hikari.HikariDataSource",
          "org.postgresql.ds.PGPoolingDataSource",
          "org.apache.tomcat.jdbc.pool.DataSourceProxy",
          "org.apache.commons.dbcp2.BasicDataSource",
          "org.apache.commons.dbcp2.PoolingDataSource",
          "org.apache.commons.dbcp2.datasources.InstanceKeyDataSource",
          "org.apache.tomcat.dbcp.dbcp2.BasicDataSource",
          "org.apache.tomcat.dbcp.dbcp2.PoolingDataSource",
          "org.apache.tomcat.dbcp.dbcp2.datasources.InstanceKeyDataSource",
          "com.mchange.v2.c3p0.PooledDataSource",
          "io.agroal.api.AgroalDataSource",
          "org.vibur.dbcp.ViburDataSource",
          "org.vibur.dbcp.ViburDBCPDataSource");

  private KnownPools() {}

  /** The pool type that {@code dataSource} is or wraps, or empty when it is none of them. */
  public static Optional<String> poolIn(DataSource dataSource) {
    Optional<String> own = poolType(dataSource.getClass());
    if (own.isPresent()) {
      return own;
    }
    for (String name : POOL_TYPES) {
      Class<?> type = load(name, dataSource.getClass().getClassLoader());
      if (type != null && wraps(dataSource, type)) {
        return Optional.of(name);
      }
    }
    return Optional.empty();
  }

  /** Whether {@code dataSource} is or wraps a HikariCP pool; loads no HikariCP class. */
  public static boolean isHikari(DataSource dataSource) {
    return poolIn(dataSource).filter(POOL_TYPES.get(0)::equals).isPresent();
  }

  /**
   * Refuses a pool for a use that needs a new driver connection each time.
   *
   * @param use what the data source was given for, for the message
   * @throws IllegalArgumentException naming the pool and the fix
   */
  public static void refuse(DataSource dataSource, String use) {
    Optional<String> pool = poolIn(dataSource);
    if (pool.isPresent()) {
      throw new IllegalArgumentException(
          use
              + " needs a data source that opens a new driver connection each time, but "
              + dataSource.getClass().getName()
              + (dataSource.getClass().getName().equals(pool.get()) ? " is" : " is or wraps")
              + " the connection pool "
              + pool.get()
              + ": a session lock on a pooled connection stays with it after an unlock is missed."
              + " For a HikariCP pool use ConnectionFactory.sameServerAs(pool); otherwise use"
              + " ConnectionFactory.fromUrl(url, user, password) or an unpooled data source such as"
              + " org.postgresql.ds.PGSimpleDataSource");
    }
  }

  private static Optional<String> poolType(Class<?> type) {
    Deque<Class<?>> todo = new ArrayDeque<>();
    Set<Class<?>> seen = new HashSet<>();
    todo.add(type);
    while (!todo.isEmpty()) {
      Class<?> t = todo.poll();
      if (!seen.add(t)) {
        continue;
      }
      if (POOL_TYPES.contains(t.getName())) {
        return Optional.of(t.getName());
      }
      if (t.getSuperclass() != null) {
        todo.add(t.getSuperclass());
      }
      todo.addAll(List.of(t.getInterfaces()));
    }
    return Optional.empty();
  }

  /** Whether a wrapper says it wraps {@code type}; a wrapper that cannot tell wraps nothing. */
  private static boolean wraps(DataSource dataSource, Class<?> type) {
    try {
      if (dataSource.isWrapperFor(type)) {
        return true;
      }
    } catch (SQLException | RuntimeException | AbstractMethodError e) {
      // Not a wrapper we can ask; try unwrap below.
    }
    try {
      return type.isInstance(dataSource.unwrap(type));
    } catch (SQLException | RuntimeException | AbstractMethodError e) {
      return false;
    }
  }

  private static Class<?> load(String name, ClassLoader preferred) {
    for (ClassLoader loader :
        new ClassLoader[] {
          preferred,
          Thread.currentThread().getContextClassLoader(),
          KnownPools.class.getClassLoader()
        }) {
      if (loader == null) {
        continue;
      }
      try {
        return Class.forName(name, false, loader);
      } catch (ClassNotFoundException | LinkageError e) {
        // Not on this loader: that pool is not in use here.
      }
    }
    return null;
  }
}
