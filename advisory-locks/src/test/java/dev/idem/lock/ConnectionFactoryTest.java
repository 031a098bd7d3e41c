package dev.idem.lock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.pg.PostgresServer;
import dev.idem.testkit.pg.SharedPostgres;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

class ConnectionFactoryTest {
  private static final PostgresServer PG = SharedPostgres.server();

  @Test
  void aDataSourceClassNamePoolGivesLockConnectionsThatAreNotPoolConnections() throws Exception {
    String applicationName = SharedPostgres.uniqueName("classname_pool");
    try (HikariDataSource pool =
        new HikariDataSource(classNameConfig(new HikariConfig(), applicationName, 2))) {
      AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
      List<Connection> borrowed = new ArrayList<>();
      try {
        Set<Integer> poolPids = new HashSet<>();
        for (int i = 0; i < 2; i++) {
          borrowed.add(pool.getConnection());
          poolPids.add(backendPid(borrowed.get(i)));
        }
        // Every pool connection is borrowed: a lock connection taken from the pool would have to
        // wait for one, and would have one of these backends.
        LockKey key = LockKey.of(SharedPostgres.uniqueName("ns"), "classname-pool");
        try (SessionLock lock = locks.lockSession(key, Duration.ofSeconds(5))) {
          assertThat(poolPids).doesNotContain(lock.backendPid());
          assertThat(pool.getHikariPoolMXBean().getActiveConnections()).isEqualTo(2);
          assertThat(pool.getHikariPoolMXBean().getTotalConnections()).isEqualTo(2);
          assertThat(
                  text(
                      "SELECT application_name FROM pg_stat_activity WHERE pid = "
                          + lock.backendPid()))
              .as("the pool's data source properties reach the lock connection")
              .isEqualTo(applicationName);
          assertThat(
                  text(
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                          + " AND pid = "
                          + lock.backendPid()))
              .isEqualTo("1");
        }
      } finally {
        for (Connection b : borrowed) {
          b.close();
        }
      }
    }
  }

  @Test
  void aJdbcUrlPoolsDataSourcePropertiesReachTheLockConnection() throws Exception {
    String applicationName = SharedPostgres.uniqueName("url_pool");
    HikariConfig c = jdbcUrlConfig(applicationName);
    try (HikariDataSource pool = new HikariDataSource(c);
        Connection pooled = pool.getConnection()) {
      int pooledPid = backendPid(pooled);
      try (Connection lockConnection = ConnectionFactory.sameServerAs(pool).open()) {
        assertThat(setting(lockConnection, "statement_timeout")).isEqualTo("4321ms");
        assertThat(setting(lockConnection, "application_name")).isEqualTo(applicationName);
        assertThat(backendPid(lockConnection)).isNotEqualTo(pooledPid);
        assertThat(pool.getHikariPoolMXBean().getActiveConnections()).isEqualTo(1);
      }
    }
  }

  @Test
  void aPoolThatHasNotStartedYetGivesLockConnectionsWithoutStartingIt() throws Exception {
    String applicationName = SharedPostgres.uniqueName("lazy_pool");
    try (HikariDataSource lazy = jdbcUrlConfig(new HikariDataSource(), applicationName)) {
      ConnectionFactory factory = ConnectionFactory.sameServerAs(lazy);
      try (Connection lockConnection = factory.open()) {
        assertThat(setting(lockConnection, "statement_timeout")).isEqualTo("4321ms");
        assertThat(setting(lockConnection, "application_name")).isEqualTo(applicationName);
      }
      assertThat(lazy.isRunning())
          .as("opening a lock connection must not start the pool")
          .isFalse();

      try (Connection pooled = lazy.getConnection();
          Connection lockConnection = factory.open()) {
        assertThat(setting(lockConnection, "application_name")).isEqualTo(applicationName);
        assertThat(backendPid(lockConnection)).isNotEqualTo(backendPid(pooled));
      }
    }

    String classNamePool = SharedPostgres.uniqueName("lazy_classname_pool");
    try (HikariDataSource lazy = classNameConfig(new HikariDataSource(), classNamePool, 2)) {
      try (Connection lockConnection = ConnectionFactory.sameServerAs(lazy).open()) {
        assertThat(setting(lockConnection, "application_name")).isEqualTo(classNamePool);
      }
      assertThat(lazy.isRunning()).isFalse();
    }
  }

  @Test
  void unpooledRefusesAPoolAndAPoolBehindAWrapper() throws Exception {
    HikariConfig c = jdbcUrlConfig(SharedPostgres.uniqueName("wrapped_pool"));
    c.setMaximumPoolSize(1);
    try (HikariDataSource pool = new HikariDataSource(c)) {
      assertThatThrownBy(() -> ConnectionFactory.unpooled(pool))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("ConnectionFactory.sameServerAs(pool)");
      assertThatThrownBy(() -> ConnectionFactory.unpooled(new Delegating(pool)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(HikariDataSource.class.getName())
          .hasMessageContaining("ConnectionFactory.sameServerAs(pool)");
    }
    DataSource pgjdbcPool = pgjdbcPoolingDataSource();
    assertThatThrownBy(() -> ConnectionFactory.unpooled(pgjdbcPool))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("org.postgresql.ds.PGPoolingDataSource");
    assertThatThrownBy(() -> ConnectionFactory.unpooled(new Delegating(pgjdbcPool)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("org.postgresql.ds.PGPoolingDataSource");

    try (Connection direct = ConnectionFactory.unpooled(new Delegating(PG.dataSource())).open()) {
      assertThat(direct.isValid(2)).as("a wrapper around a plain data source is fine").isTrue();
    }
  }

  /** A pool configured as {@code dataSourceClassName=PGSimpleDataSource} and its properties. */
  private static <C extends HikariConfig> C classNameConfig(C c, String applicationName, int size) {
    PGSimpleDataSource server = new PGSimpleDataSource();
    server.setUrl(PG.jdbcUrl());
    c.setDataSourceClassName(PGSimpleDataSource.class.getName());
    c.addDataSourceProperty("serverName", server.getServerNames()[0]);
    c.addDataSourceProperty("portNumber", server.getPortNumbers()[0]);
    c.addDataSourceProperty("databaseName", server.getDatabaseName());
    c.addDataSourceProperty("user", PG.user());
    c.addDataSourceProperty("password", PG.password());
    c.addDataSourceProperty("applicationName", applicationName);
    c.setMaximumPoolSize(size);
    c.setMinimumIdle(size);
    return c;
  }

  private static HikariConfig jdbcUrlConfig(String applicationName) {
    return jdbcUrlConfig(new HikariConfig(), applicationName);
  }

  /**
   * A jdbcUrl pool whose sessions carry driver properties that a lock connection must carry too.
   */
  private static <C extends HikariConfig> C jdbcUrlConfig(C c, String applicationName) {
    c.setJdbcUrl(PG.jdbcUrl());
    c.setUsername(PG.user());
    c.setPassword(PG.password());
    c.addDataSourceProperty("ApplicationName", applicationName);
    c.addDataSourceProperty("options", "-c statement_timeout=4321ms");
    c.setMaximumPoolSize(2);
    c.setMinimumIdle(1);
    return c;
  }

  /**
   * pgjdbc's own (deprecated) pool, by name, so the test compiles without a deprecation warning.
   */
  private static DataSource pgjdbcPoolingDataSource() throws Exception {
    return (DataSource)
        Class.forName("org.postgresql.ds.PGPoolingDataSource")
            .getDeclaredConstructor()
            .newInstance();
  }

  private static int backendPid(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static String setting(Connection c, String name) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT current_setting('" + name + "')")) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static String text(String sql) throws SQLException {
    try (Connection c = PG.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  /** A data source that hands everything to another one, as tracing or metrics wrappers do. */
  private static final class Delegating implements DataSource {
    private final DataSource target;

    Delegating(DataSource target) {
      this.target = target;
    }

    @Override
    public Connection getConnection() throws SQLException {
      return target.getConnection();
    }

    @Override
    public Connection getConnection(String user, String password) throws SQLException {
      return target.getConnection(user, password);
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
      return target.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
      target.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
      target.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
      return target.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
      return target.getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
      return iface.isInstance(target) ? iface.cast(target) : target.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
      return iface.isInstance(target) || target.isWrapperFor(iface);
    }
  }
}
