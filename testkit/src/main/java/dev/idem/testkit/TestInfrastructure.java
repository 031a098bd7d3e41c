package dev.idem.testkit;

import dev.idem.testkit.internal.ContainerServers;
import dev.idem.testkit.internal.ExternalServers;
import dev.idem.testkit.pg.PostgresServer;
import dev.idem.testkit.pg.SharedPostgres;
import dev.idem.testkit.pg.TestkitException;
import dev.idem.testkit.pg.internal.InfraMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka broker and PostgreSQL server shared by every test of one JVM.
 *
 * <p>The PostgreSQL server is the PostgreSQL testkit's {@link SharedPostgres#server()}, so a JVM
 * runs one database whichever testkit its tests use. The broker is chosen in this order:
 *
 * <ol>
 *   <li>endpoints from the environment: {@code KAFKA_BOOTSTRAP_SERVERS};
 *   <li>Testcontainers ({@code apache/kafka}) when {@code -Didem.testkit.infra=testcontainers} (or
 *       {@code IDEM_TESTKIT_INFRA}) asks for it, or in {@code auto} mode when a Docker engine
 *       answers within a few seconds;
 *   <li>embedded: a child-JVM KRaft broker ({@code -Didem.testkit.infra=embedded} forces this).
 * </ol>
 *
 * <p>Tests isolate themselves with unique topic and consumer names ({@link #uniqueName(String)}).
 * Tests that restart servers start their own embedded ones instead of stopping the shared ones.
 */
public final class TestInfrastructure {
  private static final Logger log = LoggerFactory.getLogger(TestInfrastructure.class);
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
    KafkaServer kafka =
        nonBlank(env.get("KAFKA_BOOTSTRAP_SERVERS"))
            .map(ExternalServers::kafka)
            .orElseGet(
                () ->
                    InfraMode.from(env).containers()
                        ? ContainerServers.kafka()
                        : EmbeddedKafkaBroker.launch());
    PostgresServer postgres = SharedPostgres.server();
    log.info(
        "test infrastructure: Kafka {} at {}, PostgreSQL {} at {}",
        kafka.kind(),
        kafka.bootstrapServers(),
        postgres.kind(),
        SharedPostgres.withoutCredentials(postgres.jdbcUrl()));
    return new TestInfrastructure(kafka, postgres);
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

  /** A name unique in this JVM: see {@link SharedPostgres#uniqueName(String)}. */
  public static String uniqueName(String prefix) {
    return SharedPostgres.uniqueName(prefix);
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
   * Sets dynamic configs of a group on a broker ({@code share.record.lock.duration.ms} of a share
   * group, say); the group need not exist yet.
   */
  public static void setGroupConfig(
      String bootstrapServers, String group, Map<String, String> configs) {
    try (Admin admin =
        Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
      List<AlterConfigOp> ops = new ArrayList<>();
      configs.forEach(
          (k, v) -> ops.add(new AlterConfigOp(new ConfigEntry(k, v), AlterConfigOp.OpType.SET)));
      admin
          .incrementalAlterConfigs(
              Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), ops))
          .all()
          .get(30, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      throw new TestkitException("cannot set " + configs + " on group " + group, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TestkitException("interrupted while setting group configs", e);
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
}
