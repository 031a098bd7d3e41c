package dev.idem.testkit.pg;

import dev.idem.testkit.pg.internal.InfraMode;
import dev.idem.testkit.pg.internal.OtherPostgres;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PostgreSQL server shared by every test of one JVM, for tests that need a database and no
 * Kafka broker (the advisory-lock library's). The Kafka testkit's {@code TestInfrastructure} hands
 * out this same server, so a JVM that uses both still runs one PostgreSQL.
 *
 * <p>The server is chosen in this order:
 *
 * <ol>
 *   <li>from the environment: {@code PG_URL}, {@code PG_USER}, {@code PG_PASSWORD};
 *   <li>a Testcontainers {@code postgres} container when {@code
 *       -Didem.testkit.infra=testcontainers} (or {@code IDEM_TESTKIT_INFRA}) asks for it, or in
 *       {@code auto} mode when a Docker engine answers within a few seconds;
 *   <li>embedded: the zonky PostgreSQL 17 binaries ({@code -Didem.testkit.infra=embedded} forces
 *       this).
 * </ol>
 */
public final class SharedPostgres {
  private static final Logger log = LoggerFactory.getLogger(SharedPostgres.class);
  private static final AtomicLong NAMES = new AtomicLong();
  private static final String PROCESS = Long.toString(ProcessHandle.current().pid(), 36);
  private static volatile PostgresServer shared;

  private SharedPostgres() {}

  /** The server of this JVM, started on first use and stopped when the JVM exits. */
  public static PostgresServer server() {
    PostgresServer current = shared;
    if (current == null) {
      synchronized (SharedPostgres.class) {
        current = shared;
        if (current == null) {
          current = select(System.getenv());
          shared = current;
        }
      }
    }
    return current;
  }

  private static PostgresServer select(Map<String, String> env) {
    PostgresServer server =
        Optional.ofNullable(env.get("PG_URL"))
            .filter(url -> !url.isBlank())
            .map(
                url ->
                    OtherPostgres.external(
                        url,
                        env.getOrDefault("PG_USER", "postgres"),
                        env.getOrDefault("PG_PASSWORD", "")))
            .orElseGet(
                () ->
                    InfraMode.from(env).containers()
                        ? OtherPostgres.container()
                        : EmbeddedPostgresServer.launch());
    log.info(
        "test database: PostgreSQL {} at {}", server.kind(), withoutCredentials(server.jdbcUrl()));
    return server;
  }

  /**
   * A name unique in this JVM, among the test JVMs of one build (they run side by side and may
   * share servers from the environment) and across runs against the same servers, safe as a Kafka
   * topic name, a consumer group id and a SQL identifier: lower-case letters, digits and
   * underscores.
   */
  public static String uniqueName(String prefix) {
    String clean = prefix.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
    return clean
        + "_"
        + Long.toString(System.currentTimeMillis() % 100_000_000L, 36)
        + "_"
        + PROCESS
        + "_"
        + NAMES.incrementAndGet();
  }

  /**
   * The URL for a log, credentials masked: a {@code PG_URL} from the environment may carry them.
   * (The testkit cannot use the framework's {@code JdbcUrls}: the framework depends on it.)
   */
  public static String withoutCredentials(String url) {
    return url.replaceAll("//([^/:@?]*):[^@/?]*@", "//$1:****@")
        .replaceAll("(?i)([?&;][^=&;]*(password|passwd|pwd|secret|token)=)[^&;#]*", "$1****");
  }
}
