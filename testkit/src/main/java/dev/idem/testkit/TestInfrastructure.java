package dev.idem.testkit;

import dev.idem.testkit.internal.ContainerServers;
import dev.idem.testkit.internal.DockerProbe;
import dev.idem.testkit.internal.ExternalServers;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka broker and PostgreSQL server shared by every test of one JVM.
 *
 * <p>Each server is chosen in this order:
 *
 * <ol>
 *   <li>endpoints from the environment: {@code KAFKA_BOOTSTRAP_SERVERS}; {@code PG_URL}, {@code
 *       PG_USER}, {@code PG_PASSWORD};
 *   <li>Testcontainers ({@code apache/kafka}, {@code postgres}) when {@code
 *       -Didem.testkit.infra=testcontainers} (or {@code IDEM_TESTKIT_INFRA}) asks for it, or in
 *       {@code auto} mode when a Docker engine answers within a few seconds;
 *   <li>embedded: a child-JVM KRaft broker and the zonky PostgreSQL binaries ({@code
 *       -Didem.testkit.infra=embedded} forces this).
 * </ol>
 *
 * <p>Tests isolate themselves with unique topic and consumer names ({@link #uniqueName(String)}).
 * Tests that restart servers start their own embedded ones instead of stopping the shared ones.
 */
public final class TestInfrastructure {
  private static final Logger log = LoggerFactory.getLogger(TestInfrastructure.class);
  private static final AtomicLong NAMES = new AtomicLong();
  private static volatile TestInfrastructure shared;

  private final KafkaServer kafka;
  private final PostgresServer postgres;

  private TestInfrastructure(KafkaServer kafka, PostgresServer postgres) {
    this.kafka = kafka;
    this.postgres = postgres;
  }

  /** The servers of this JVM, started on first use and stopped when the JVM exits. */
  public static TestInfrastructure shared() {
    TestInfrastructure current = shared;
    if (current == null) {
      synchronized (TestInfrastructure.class) {
        current = shared;
        if (current == null) {
          current = select(System.getenv());
          shared = current;
        }
      }
    }
    return current;
  }

  static TestInfrastructure select(Map<String, String> env) {
    Mode mode = Mode.from(System.getProperty("idem.testkit.infra", env.get("IDEM_TESTKIT_INFRA")));
    boolean containers =
        mode == Mode.TESTCONTAINERS || (mode == Mode.AUTO && DockerProbe.dockerAnswers());
    if (mode == Mode.TESTCONTAINERS && !DockerProbe.dockerAnswers()) {
      throw new TestkitException(
          "idem.testkit.infra=testcontainers but no Docker engine answered;"
              + " use idem.testkit.infra=embedded or auto");
    }
    KafkaServer kafka =
        nonBlank(env.get("KAFKA_BOOTSTRAP_SERVERS"))
            .map(ExternalServers::kafka)
            .orElseGet(() -> containers ? ContainerServers.kafka() : EmbeddedKafkaBroker.launch());
    PostgresServer postgres =
        nonBlank(env.get("PG_URL"))
            .map(
                url ->
                    ExternalServers.postgres(
                        url,
                        env.getOrDefault("PG_USER", "postgres"),
                        env.getOrDefault("PG_PASSWORD", "")))
            .orElseGet(
                () -> containers ? ContainerServers.postgres() : EmbeddedPostgresServer.launch());
    log.info(
        "test infrastructure: Kafka {} at {}, PostgreSQL {} at {}",
        kafka.kind(),
        kafka.bootstrapServers(),
        postgres.kind(),
        withoutCredentials(postgres.jdbcUrl()));
    return new TestInfrastructure(kafka, postgres);
  }

  /**
   * The URL for the log, credentials masked: a {@code PG_URL} from the environment may carry them.
   * (The testkit cannot use the framework's {@code JdbcUrls}: the framework depends on it.)
   */
  static String withoutCredentials(String url) {
    return url.replaceAll("//([^/:@?]*):[^@/?]*@", "//$1:****@")
        .replaceAll("(?i)([?&;][^=&;]*(password|passwd|pwd|secret|token)=)[^&;#]*", "$1****");
  }

  private static Optional<String> nonBlank(String value) {
    return Optional.ofNullable(value).filter(v -> !v.isBlank());
  }

  /** The shared broker. */
  public KafkaServer kafka() {
    return kafka;
  }

  /** The shared database server. */
  public PostgresServer postgres() {
    return postgres;
  }

  /**
   * A name unique in this JVM and across runs against the same servers, safe as a Kafka topic name,
   * a consumer group id and a SQL identifier: lower-case letters, digits and underscores.
   */
  public static String uniqueName(String prefix) {
    String clean = prefix.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
    return clean
        + "_"
        + Long.toString(System.currentTimeMillis() % 100_000_000L, 36)
        + "_"
        + NAMES.incrementAndGet();
  }

  /** Creates topics with the given partition count on the shared broker and waits for them. */
  public void createTopics(int partitions, String... topics) {
    createTopics(kafka.bootstrapServers(), partitions, Map.of(), topics);
  }

  /** Creates topics with the given partition count and topic configs on a broker. */
  public static void createTopics(
      String bootstrapServers, int partitions, Map<String, String> configs, String... topics) {
    try (Admin admin =
        Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
      List<NewTopic> newTopics =
          java.util.Arrays.stream(topics)
              .map(t -> new NewTopic(t, partitions, (short) 1).configs(configs))
              .toList();
      admin.createTopics(newTopics).all().get(30, TimeUnit.SECONDS);
      awaitLeaders(admin, partitions, topics);
    } catch (ExecutionException | TimeoutException e) {
      throw new TestkitException("cannot create topics " + List.of(topics), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TestkitException("interrupted while creating topics", e);
    }
  }

  /**
   * Waits until the broker serves every new partition as leader. Producing to a partition whose
   * leader is not yet in place fails the first batch with NOT_LEADER_OR_FOLLOWER; an idempotent
   * producer whose later batches got through then retries that batch out of sequence forever.
   */
  private static void awaitLeaders(Admin admin, int partitions, String... topics)
      throws InterruptedException, TimeoutException {
    Map<org.apache.kafka.common.TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> request =
        new java.util.HashMap<>();
    for (String topic : topics) {
      for (int p = 0; p < partitions; p++) {
        request.put(
            new org.apache.kafka.common.TopicPartition(topic, p),
            org.apache.kafka.clients.admin.OffsetSpec.latest());
      }
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      try {
        admin.listOffsets(request).all().get(5, TimeUnit.SECONDS);
        return;
      } catch (ExecutionException e) {
        if (System.nanoTime() > deadline) {
          throw new TestkitException("partitions of " + List.of(topics) + " have no leader", e);
        }
        Thread.sleep(50);
      }
    }
  }

  private enum Mode {
    AUTO,
    EMBEDDED,
    TESTCONTAINERS;

    static Mode from(String value) {
      if (value == null || value.isBlank()) {
        return AUTO;
      }
      try {
        return valueOf(value.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new TestkitException(
            "idem.testkit.infra=" + value + " is not known; use auto, embedded or testcontainers");
      }
    }
  }
}
