package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.idem.IdemException;
import dev.idem.testkit.TestInfrastructure;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

/** What build(), start() and close() promise about the consumer's parts and its state. */
class LifecycleTest {
  @RegisterExtension final Closer closer = new Closer();

  @Test
  void aBuilderChangedAfterBuildDoesNotChangeTheConsumerItBuilt() throws Exception {
    String name = TestInfrastructure.uniqueName("frozen");
    String kept = name.replace('-', '_') + "_kept";
    String later = name.replace('-', '_') + "_later";
    INFRA.createTopics(1, name);
    createEffectsTable(kept);
    createEffectsTable(later);
    IdempotentConsumer.Builder<String> builder =
        consumerBuilder(config(name, name).build(), Payloads.utf8(), closer.add(pool(4)))
            .handler((value, ctx) -> insertEffect(kept, value, ctx));
    IdempotentConsumer<String> consumer = closer.add(builder.build());
    // Changing the builder afterwards must leave the consumer built above as it was.
    builder.handler((value, ctx) -> insertEffect(later, value, ctx));

    consumer.start();
    send(
        List.of(
            record(name, 0, "k", "e1", "one"),
            record(name, 0, "k", "e2", "two"),
            record(name, 0, "k", "e3", "three")));

    awaitTrue(Duration.ofSeconds(30), "three records handled", () -> rows(kept) + rows(later) == 3);
    assertThat(count("SELECT count(*) FROM " + kept)).as("rows of the handler built").isEqualTo(3);
    assertThat(count("SELECT count(*) FROM " + later))
        .as("rows of the handler set after build()")
        .isZero();
  }

  @Test
  void aStartThatFailsLeavesTheSameFailedStateEverywhereAndRefusesASecondStart() throws Exception {
    String name = TestInfrastructure.uniqueName("nostart");
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config(name, name).build(), Payloads.utf8(), unreachableDatabase())
                .handler((value, ctx) -> {})
                .build());

    assertThatThrownBy(consumer::start).isInstanceOf(IdemException.class);

    assertThat(consumer.snapshot().state()).as("snapshot").isEqualTo(ConsumerState.FAILED);
    assertThat(consumer.health().state()).as("health").isEqualTo(ConsumerState.FAILED);
    assertThat(consumer.health().healthy()).isFalse();
    assertThat(consumer.health().live()).as("live after a failed start").isFalse();
    assertThatThrownBy(consumer::start)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("FAILED");
    assertThat(consumer.snapshot().state()).isEqualTo(ConsumerState.FAILED);

    consumer.close();
    assertThat(consumer.snapshot().state()).as("snapshot").isEqualTo(ConsumerState.CLOSED);
    assertThat(consumer.health().state()).as("health").isEqualTo(ConsumerState.CLOSED);
  }

  @Test
  void aConsumerThatStoppedOnItsOwnSaysClosedEverywhereOnceClosed() throws Exception {
    String name = TestInfrastructure.uniqueName("crashclose");
    INFRA.createTopics(1, name);
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config(name, name).build(), Payloads.utf8(), closer.add(pool(4)))
                .handler((value, ctx) -> {})
                .build());
    consumer.start();
    assertThat(consumer.snapshot().state()).isEqualTo(ConsumerState.RUNNING);
    awaitAssigned(consumer);

    consumer.crash();
    awaitTrue(
        Duration.ofSeconds(30),
        "failed",
        () -> consumer.snapshot().state() == ConsumerState.FAILED);
    assertThat(consumer.health().state()).isEqualTo(ConsumerState.FAILED);

    consumer.close();
    assertThat(consumer.snapshot().state()).isEqualTo(ConsumerState.CLOSED);
    assertThat(consumer.health().state()).isEqualTo(ConsumerState.CLOSED);
  }

  private static long rows(String table) {
    try {
      return count("SELECT count(*) FROM " + table);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A real driver data source pointed at a port nothing listens on. */
  private static PGSimpleDataSource unreachableDatabase() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setServerNames(new String[] {"127.0.0.1"});
    ds.setPortNumbers(new int[] {port});
    ds.setDatabaseName("postgres");
    ds.setUser("postgres");
    ds.setConnectTimeout(2);
    return ds;
  }
}
