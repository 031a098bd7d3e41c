package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The pool a consumer opens itself from {@code pg.*}. */
class OwnedPoolTest {
  @RegisterExtension final Closer closer = new Closer();

  @Test
  void thePoolIdemOpensFromPgSettingsTimesOutReadsAboveItsLongestStatement() throws Exception {
    String name = TestInfrastructure.uniqueName("socktimeout");
    INFRA.createTopics(1, name);
    List<Integer> networkTimeouts = new CopyOnWriteArrayList<>();
    IdemConfig config =
        config(name, name)
            .lockTimeout(Duration.ofMinutes(2))
            .handlerTimeout(Duration.ofMinutes(3))
            .database(
                INFRA.postgres().jdbcUrl(), INFRA.postgres().user(), INFRA.postgres().password(), 3)
            .build();
    IdempotentConsumer<String> consumer =
        closer.add(
            IdempotentConsumer.builder(config, Payloads.utf8())
                .eventIds(EventIds.header("webhook-id"))
                .handler((value, ctx) -> networkTimeouts.add(ctx.connection().getNetworkTimeout()))
                .build());
    consumer.start();
    send(List.of(record(name, 0, "k", "t-1", "v")));
    awaitTrue(Duration.ofSeconds(30), "handled", () -> !networkTimeouts.isEmpty());

    // 2 min lock + 3 min handler (above the schema migration's 120 s lock wait) + 30 s margin
    assertThat(networkTimeouts.get(0)).isEqualTo(330_000);
  }

  @Test
  void withTheDefaultTimeoutsTheSchemaMigrationsLockWaitSetsTheSocketTimeout() {
    IdemConfig config = config("defaults", "t").build();
    // 30 s lock + 60 s handler is below the migration's 120 s lock wait; + 30 s margin
    assertThat(OwnedPool.socketTimeout(config)).isEqualTo(Duration.ofSeconds(150));
    assertThat(OwnedPool.settings(withDatabase(config("defaults", "t"), "")).getConnectionTimeout())
        .isEqualTo(10_000);
  }

  @Test
  void aSocketTimeoutInPgUrlWinsOverIdemsOwn() throws Exception {
    IdemConfig config = withDatabase(config("urlwins", "t"), "?socketTimeout=7");
    try (HikariDataSource pool = new HikariDataSource(OwnedPool.settings(config));
        Connection c = pool.getConnection()) {
      assertThat(c.getNetworkTimeout()).isEqualTo(7_000);
    }
  }

  private static IdemConfig withDatabase(IdemConfig.Builder builder, String urlSuffix) {
    return builder
        .database(
            INFRA.postgres().jdbcUrl() + urlSuffix,
            INFRA.postgres().user(),
            INFRA.postgres().password(),
            3)
        .build();
  }
}
