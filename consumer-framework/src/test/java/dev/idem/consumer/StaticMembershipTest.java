package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Static membership ({@code kafka.group.instance.id}): one live consumer per id, guarded in
 * PostgreSQL; a consumer whose id another member took stops instead of polling on.
 */
class StaticMembershipTest {

  private static IdempotentConsumer<String> consumer(
      IdemConfig config, javax.sql.DataSource pool, String table) {
    return consumerBuilder(config, Payloads.utf8(), pool)
        .handler((value, ctx) -> insertEffect(table, value, ctx))
        .build();
  }

  private static void awaitApplied(String table, String eventId) {
    awaitTrue(
        Duration.ofSeconds(30),
        eventId + " applied",
        () -> {
          try {
            return count("SELECT count(*) FROM " + table + " WHERE event_id = ?", eventId) == 1;
          } catch (Exception e) {
            return false;
          }
        });
  }

  @Test
  void aSecondConsumerWithTheSameInstanceIdIsRefusedAtStartAndStartsOnceTheFirstIsClosed()
      throws Exception {
    String name = TestInfrastructure.uniqueName("static_dup");
    INFRA.createTopics(2, name);
    createEffectsTable(name);
    IdemConfig config = config(name, name).kafka("group.instance.id", "host-a").build();
    try (HikariDataSource poolA = pool(4);
        HikariDataSource poolB = pool(4)) {
      IdempotentConsumer<String> first = consumer(config, poolA, name);
      try {
        first.start();
        awaitAssigned(first);

        IdempotentConsumer<String> second = consumer(config, poolB, name);
        assertThatThrownBy(second::start)
            .isInstanceOf(IdemConfigException.class)
            .satisfies(
                e ->
                    assertThat(((IdemConfigException) e).key())
                        .isEqualTo("kafka.group.instance.id"))
            .hasMessageContaining("'host-a' is used by another live consumer of group " + name)
            .hasMessageContaining("give every instance its own kafka.group.instance.id");

        // The refused one never joined: the first still owns its partitions and applies events.
        send(List.of(record(name, 0, "k", "e-1", "one")));
        awaitApplied(name, "e-1");
        assertThat(first.snapshot().state()).isEqualTo(ConsumerState.RUNNING);
        assertThat(first.snapshot().assigned()).hasSize(2);
      } finally {
        first.close();
      }

      IdempotentConsumer<String> after = consumer(config, poolB, name);
      try {
        after.start();
        send(List.of(record(name, 1, "k", "e-2", "two")));
        awaitApplied(name, "e-2");
      } finally {
        after.close();
      }
    }
  }

  @Test
  void aConsumerWhoseInstanceIdAnotherMemberTookStopsInStateFailed() throws Exception {
    String name = TestInfrastructure.uniqueName("static_fenced");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    IdemConfig config =
        config(name, name)
            .kafka("group.instance.id", "host-b")
            .kafka("session.timeout.ms", 6000)
            .kafka("heartbeat.interval.ms", 500)
            .build();
    try (HikariDataSource pool = pool(4);
        IdempotentConsumer<String> idem = consumer(config, pool, name)) {
      idem.start();
      awaitAssigned(idem);
      // A member the PostgreSQL guard cannot see (another database, or a plain client) joins with
      // the same id: Kafka hands it the partitions and fences the first.
      try (KafkaConsumer<byte[], byte[]> intruder =
          new KafkaConsumer<>(
              Map.of(
                  ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                  bootstrap(),
                  ConsumerConfig.GROUP_ID_CONFIG,
                  name,
                  ConsumerConfig.GROUP_INSTANCE_ID_CONFIG,
                  "host-b",
                  ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                  "false"),
              new ByteArrayDeserializer(),
              new ByteArrayDeserializer())) {
        intruder.subscribe(List.of(name));
        awaitTrue(
            Duration.ofSeconds(30),
            "the idem consumer stopped",
            () -> {
              intruder.poll(Duration.ofMillis(100));
              return idem.snapshot().state() == ConsumerState.FAILED;
            });
        assertThat(idem.health().healthy()).isFalse();
      }
    }
  }

  @Test
  void staticMembershipWithoutADedicatedConnectionForItsGuardIsRefused() throws Exception {
    String name = TestInfrastructure.uniqueName("static_noguard");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    IdemConfig config = config(name, name).kafka("group.instance.id", "host-c").build();
    // Not a HikariCP pool and no lockConnections(...): idem cannot tell whether the data source
    // hands out pooled connections, so it has nothing to hold a session lock on.
    PGSimpleDataSource plain = new PGSimpleDataSource();
    plain.setUrl(INFRA.postgres().jdbcUrl());
    plain.setUser(INFRA.postgres().user());
    plain.setPassword(INFRA.postgres().password());
    try (IdempotentConsumer<String> c = consumer(config, plain, name)) {
      assertThatThrownBy(c::start)
          .isInstanceOf(IdemConfigException.class)
          .satisfies(
              e -> assertThat(((IdemConfigException) e).key()).isEqualTo("kafka.group.instance.id"))
          .hasMessageContaining("lockConnections(ConnectionFactory)");
      assertThat(c.snapshot().assigned()).isEmpty();
    }
  }
}
