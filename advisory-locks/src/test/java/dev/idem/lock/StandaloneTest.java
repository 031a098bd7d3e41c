package dev.idem.lock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.idem.testkit.pg.PostgresServer;
import dev.idem.testkit.pg.SharedPostgres;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The lock library stands alone: a team that wants cron-job exclusion or a leader needs neither
 * kafka-clients nor HikariCP.
 */
class StandaloneTest {
  private static final PostgresServer PG = SharedPostgres.server();

  @Test
  void theLibraryAndItsTestsRunWithoutKafkaOnTheClassPath() {
    assertThatThrownBy(() -> Class.forName("org.apache.kafka.clients.consumer.KafkaConsumer"))
        .isInstanceOf(ClassNotFoundException.class);
  }

  @Test
  void aJobRunsExclusivelyInAClassLoaderThatHasNoHikariCp() throws Exception {
    Set<URL> path = new LinkedHashSet<>();
    for (Class<?> type :
        new Class<?>[] {
          AdvisoryLocks.class, // the library
          StandaloneTest.class, // the probe below
          PGSimpleDataSource.class,
          io.micrometer.core.instrument.MeterRegistry.class,
          io.micrometer.common.util.StringUtils.class,
          io.micrometer.observation.Observation.class,
          org.HdrHistogram.Histogram.class,
          org.LatencyUtils.PauseDetector.class,
          org.slf4j.LoggerFactory.class
        }) {
      path.add(type.getProtectionDomain().getCodeSource().getLocation());
    }
    try (URLClassLoader isolated =
        new URLClassLoader(path.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
      assertThatThrownBy(() -> Class.forName("com.zaxxer.hikari.HikariDataSource", false, isolated))
          .isInstanceOf(ClassNotFoundException.class);
      Class<?> probe = isolated.loadClass(NoHikariProbe.class.getName());
      assertThat(probe.getClassLoader()).isSameAs(isolated);
      Object result;
      try {
        result =
            probe
                .getMethod("run", String.class, String.class, String.class)
                .invoke(null, PG.jdbcUrl(), PG.user(), PG.password());
      } catch (InvocationTargetException e) {
        throw new AssertionError("the probe failed without HikariCP", e.getCause());
      }
      assertThat(result)
          .isEqualTo(
              "ran: done; while held by another: skipped; sameServerAs(PGSimpleDataSource):"
                  + " IllegalArgumentException");
    }
  }

  /** Runs in the isolated class loader: only JDK types cross the boundary. */
  public static final class NoHikariProbe {
    private NoHikariProbe() {}

    /** Uses the library the way a cron job would, and reports what happened. */
    public static String run(String url, String user, String password) throws Exception {
      // An unpooled data source rather than fromUrl: DriverManager only hands out drivers that the
      // application class loader registered, and this loader has its own copy of pgjdbc.
      PGSimpleDataSource dataSource = new PGSimpleDataSource();
      dataSource.setUrl(url);
      dataSource.setUser(user);
      dataSource.setPassword(password);
      AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.unpooled(dataSource)).build();
      String job = "nightly_" + java.util.UUID.randomUUID();
      RunResult<String> first = locks.runExclusive(job, () -> "done");
      Callable<RunResult<String>> contended = () -> locks.runExclusive(job, () -> "twice");
      RunResult<String> second;
      try (SessionLock held =
          locks.lockSession(LockKey.of("idem.jobs", job), java.time.Duration.ofSeconds(5))) {
        second = contended.call();
      }
      String refused;
      try {
        ConnectionFactory.sameServerAs(new PGSimpleDataSource());
        refused = "accepted";
      } catch (IllegalArgumentException e) {
        refused = e.getClass().getSimpleName();
      }
      return "ran: "
          + first.value()
          + "; while held by another: "
          + (second.skipped() ? "skipped" : "ran")
          + "; sameServerAs(PGSimpleDataSource): "
          + refused;
    }
  }
}
