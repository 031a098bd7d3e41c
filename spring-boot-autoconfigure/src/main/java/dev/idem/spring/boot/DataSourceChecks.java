package dev.idem.spring.boot;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.IdemConfig;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Map;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.core.namedparam.NamedParameterJdbcTemplate;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.TransactionAwareDataSourceProxy;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.util.ClassUtils;

/**
 * The start-up checks that make joining Spring's transactions to idem's sound. idem binds its
 * transaction's connection under the exact {@code DataSource} object its connections come from;
 * Spring's templates and transaction managers look it up under theirs. Where the two differ (a
 * proxy or wrapper on one side only), the lookup misses without a word and the template writes on a
 * second, auto-commit connection: effects that escape the event's transaction. So every such bean
 * must use idem's object, and what cannot join at all (JPA) is refused.
 */
final class DataSourceChecks {
  private static final String EMF = "jakarta.persistence.EntityManagerFactory";

  private DataSourceChecks() {}

  /**
   * Refuses templates and transaction managers on another {@code DataSource} object, transaction
   * managers that are not JDBC ones, and JPA (unless {@code jpaOutsideHandlers}).
   */
  static void verify(ListableBeanFactory beans, DataSource dataSource, boolean jpaOutsideHandlers) {
    if (dataSource instanceof TransactionAwareDataSourceProxy) {
      throw new InvalidIdemPropertyException(
          "idem's DataSource",
          "is a TransactionAwareDataSourceProxy: Spring's transaction managers look transactions"
              + " up under its target, so templates would miss idem's transaction",
          "give idem (and your templates) the pool itself");
    }
    beans
        .getBeansOfType(JdbcTemplate.class, false, false)
        .forEach((name, t) -> requireSame(name, "JdbcTemplate", t.getDataSource(), dataSource));
    beans
        .getBeansOfType(NamedParameterJdbcTemplate.class, false, false)
        .forEach(
            (name, t) ->
                requireSame(
                    name,
                    "NamedParameterJdbcTemplate",
                    t.getJdbcTemplate().getDataSource(),
                    dataSource));
    boolean jpa =
        ClassUtils.isPresent(EMF, DataSourceChecks.class.getClassLoader())
            && beans.getBeanNamesForType(ClassUtils.resolveClassName(EMF, null), false, false)
                    .length
                > 0;
    beans
        .getBeansOfType(PlatformTransactionManager.class, false, false)
        .forEach(
            (name, tm) -> {
              if (tm instanceof DataSourceTransactionManager jdbc) {
                requireSame(name, "transaction manager", jdbc.getDataSource(), dataSource);
              } else if (!jpaOutsideHandlers) {
                throw new InvalidIdemPropertyException(
                    "transaction manager bean '" + name + "'",
                    "is a "
                        + tm.getClass().getName()
                        + (jpa ? " (JPA)" : "")
                        + ": @Transactional code in a handler would run in its transaction, not"
                        + " idem's; idem joins JDBC transactions only (JdbcTemplate, JdbcClient,"
                        + " @Transactional on a DataSourceTransactionManager), and JPA/Hibernate"
                        + " in a handler is not supported",
                    "use a DataSourceTransactionManager on idem's DataSource, or, if no handler"
                        + " uses it, set idem.jpa-outside-handlers=true");
              }
            });
    if (jpa && !jpaOutsideHandlers) {
      throw new InvalidIdemPropertyException(
          "idem.jpa-outside-handlers",
          "the application has a JPA EntityManagerFactory; JPA/Hibernate in an idem handler is"
              + " not supported (an EntityManager does not run on idem's connection, so its writes"
              + " would escape the event's transaction)",
          "write handlers with JdbcTemplate or JdbcClient, and set idem.jpa-outside-handlers=true"
              + " to confirm that no handler uses JPA");
    }
  }

  private static void requireSame(String bean, String what, DataSource used, DataSource idem) {
    if (used != idem) {
      throw new InvalidIdemPropertyException(
          what + " bean '" + bean + "'",
          "uses DataSource "
              + describe(used)
              + ", not the object idem's transactions come from ("
              + describe(idem)
              + "); inside a handler its statements would run on a second, auto-commit"
              + " connection, outside the event's transaction",
          "build it on the same DataSource bean idem uses (the application's DataSource, or the"
              + " bean named idemDataSource), with no proxy or wrapper on one side only");
    }
  }

  private static String describe(DataSource ds) {
    return ds == null
        ? "null"
        : ds.getClass().getName() + "@" + Integer.toHexString(System.identityHashCode(ds));
  }

  /**
   * Refuses a HikariCP pool smaller than what the consumers need: {@code concurrency + 2}
   * connections each (the workers, the offset and dead-letter paths). A pool of another kind is not
   * checked.
   */
  static void poolFits(DataSource dataSource, Map<String, IdemConfig> configs) {
    HikariDataSource hikari;
    try {
      if (!dataSource.isWrapperFor(HikariDataSource.class)) {
        return;
      }
      hikari = dataSource.unwrap(HikariDataSource.class);
    } catch (SQLException e) {
      return;
    }
    int needed = configs.values().stream().mapToInt(c -> c.concurrency() + 2).sum();
    if (hikari.getMaximumPoolSize() < needed) {
      String each =
          configs.entrySet().stream()
              .map(e -> e.getKey() + " " + e.getValue().concurrency() + " + 2")
              .collect(Collectors.joining(", "));
      throw new InvalidIdemPropertyException(
          "spring.datasource.hikari.maximum-pool-size",
          "is "
              + hikari.getMaximumPoolSize()
              + ", but idem's consumers need at least "
              + needed
              + " connections (concurrency + 2 each: "
              + each
              + "), more if the application uses the pool too",
          "raise it to at least " + needed + ", or lower idem.consumers.<name>.concurrency");
    }
  }

  /** Refuses a drain that Boot would stop waiting for in the middle. */
  static void drainFitsShutdownPhase(Map<String, IdemConfig> configs, Duration phaseTimeout) {
    for (Map.Entry<String, IdemConfig> e : configs.entrySet()) {
      if (e.getValue().drainTimeout().compareTo(phaseTimeout) > 0) {
        throw new InvalidIdemPropertyException(
            "idem.consumers." + e.getKey() + ".drain-timeout",
            "is "
                + e.getValue().drainTimeout()
                + ", longer than spring.lifecycle.timeout-per-shutdown-phase ("
                + phaseTimeout
                + "): Spring would stop waiting for the consumers while they drain",
            "lower the drain timeout, or raise spring.lifecycle.timeout-per-shutdown-phase");
      }
    }
  }
}
