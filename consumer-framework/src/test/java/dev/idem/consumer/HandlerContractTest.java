package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

class HandlerContractTest {

  @Test
  void theHandlerSeesItsRecordAndCannotEndIdemsTransaction() throws Exception {
    String name = TestInfrastructure.uniqueName("contract");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    Map<String, Object> seen = new ConcurrentHashMap<>();
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumerBuilder(config(name, name).build(), Payloads.utf8(), pool)
                .handler(
                    (value, ctx) -> {
                      insertEffect(effects, value, ctx);
                      seen.put(
                          "context",
                          ctx.consumerName()
                              + "|"
                              + ctx.topic()
                              + "|"
                              + ctx.partition()
                              + "|"
                              + ctx.offset()
                              + "|"
                              + new String(ctx.key())
                              + "|"
                              + ctx.eventId()
                              + "|"
                              + ctx.attempt());
                      for (String call : List.of("commit", "rollback", "close", "autocommit")) {
                        try {
                          switch (call) {
                            case "commit" -> ctx.connection().commit();
                            case "rollback" -> ctx.connection().rollback();
                            case "close" -> ctx.connection().close();
                            default -> ctx.connection().setAutoCommit(true);
                          }
                          seen.put(call, "allowed");
                        } catch (IllegalStateException e) {
                          seen.put(call, "refused");
                        }
                      }
                      try (Statement s = ctx.connection().createStatement();
                          ResultSet rs =
                              s.executeQuery(
                                  "SELECT current_setting('transaction_isolation'),"
                                      + " current_setting('synchronous_commit'),"
                                      + " current_setting('lock_timeout'),"
                                      + " current_setting('statement_timeout')")) {
                        rs.next();
                        seen.put(
                            "settings",
                            rs.getString(1)
                                + "|"
                                + rs.getString(2)
                                + "|"
                                + rs.getString(3)
                                + "|"
                                + rs.getString(4));
                      }
                    })
                .build()) {
      consumer.start();
      send(List.of(record(name, 0, "acct-1", "ctx-1", "v")));
      awaitTrue(Duration.ofSeconds(60), "processed", () -> consumer.snapshot().processed() == 1);

      assertThat(seen.get("context")).isEqualTo(name + "|" + name + "|0|0|acct-1|ctx-1|1");
      assertThat(seen)
          .containsEntry("commit", "refused")
          .containsEntry("rollback", "refused")
          .containsEntry("close", "refused")
          .containsEntry("autocommit", "refused");
      assertThat(seen.get("settings")).isEqualTo("read committed|on|30s|1min");
      assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(1);
    }
  }

  @Test
  void aHandlerThatAlwaysFailsIsDeadLetteredAfterItsAttemptsAndLaterCopiesAreSkipped()
      throws Exception {
    String name = TestInfrastructure.uniqueName("poison");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumerBuilder(
                    config(name, name).retry(RetryPolicy.fixed(3, Duration.ofMillis(20))).build(),
                    Payloads.utf8(),
                    pool)
                .handler(
                    (value, ctx) -> {
                      insertEffect(effects, value, ctx);
                      if (value.equals("poison")) {
                        throw new IllegalArgumentException("cannot apply " + value);
                      }
                    })
                .build()) {
      consumer.start();
      send(List.of(record(name, 0, "a", "p-1", "poison"), record(name, 0, "b", "ok-1", "fine")));
      awaitTrue(
          Duration.ofSeconds(60),
          "dead-lettered and processed",
          () -> consumer.snapshot().deadLettered() == 1 && consumer.snapshot().processed() == 1);
      send(List.of(record(name, 0, "a", "p-1", "poison")));
      awaitTrue(
          Duration.ofSeconds(60), "copy skipped", () -> consumer.snapshot().duplicates() == 1);

      try (Connection c = INFRA.postgres().dataSource().getConnection();
          PreparedStatement ps =
              prepare(
                  c,
                  "SELECT attempts, reason, exception_class, exception_message, topic,"
                      + " kafka_partition, kafka_offset, convert_from(record_value, 'UTF8'),"
                      + " headers->0->>'key', delivery_count"
                      + " FROM idem.dead_letters WHERE consumer_name = ? AND event_id = 'p-1'",
                  name);
          ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getInt(1)).isEqualTo(3);
        assertThat(rs.getString(2)).isEqualTo("handler-failed");
        assertThat(rs.getString(3)).isEqualTo(IllegalArgumentException.class.getName());
        assertThat(rs.getString(4)).isEqualTo("cannot apply poison");
        assertThat(rs.getString(5)).isEqualTo(name);
        assertThat(rs.getInt(6)).isZero();
        assertThat(rs.getLong(7)).isZero();
        assertThat(rs.getString(8)).isEqualTo("poison");
        assertThat(rs.getString(9)).isEqualTo("webhook-id");
        assertThat(rs.getObject(10)).as("a consumer group's record has no delivery count").isNull();
      }
      assertThat(strings("SELECT event_id FROM " + effects)).containsExactly("ok-1");
    }
  }

  @Test
  void aNonRetryableFailureIsDeadLetteredWithoutFurtherAttempts() throws Exception {
    String name = TestInfrastructure.uniqueName("nonretry");
    INFRA.createTopics(1, name);
    try (HikariDataSource pool = pool(3);
        IdempotentConsumer<String> consumer =
            consumerBuilder(config(name, name).build(), Payloads.utf8(), pool)
                .handler(
                    (value, ctx) -> {
                      throw new NonRetryableException("unknown event type " + value);
                    })
                .build()) {
      consumer.start();
      send(List.of(record(name, 0, "a", "nr-1", "refund.weird")));
      awaitTrue(
          Duration.ofSeconds(60), "dead-lettered", () -> consumer.snapshot().deadLettered() == 1);
      assertThat(consumer.snapshot().retries()).isZero();
      assertThat(count("SELECT attempts FROM idem.dead_letters WHERE consumer_name = ?", name))
          .isEqualTo(1);
    }
  }
}
