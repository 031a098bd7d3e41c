package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.internal.testing.FaultAccess;
import dev.idem.testkit.TestInfrastructure;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The unsupported fault accessor the chaos tools use reaches the builders' fault hooks. */
class FaultAccessTest {
  @RegisterExtension final Closer closer = new Closer();

  @Test
  void theAfterCommitActionRunsForEachRecordWhoseTransactionCommitted() throws Exception {
    String name = TestInfrastructure.uniqueName("faultaccess");
    String effects = name.replace('-', '_');
    INFRA.createTopics(1, name);
    createEffectsTable(effects);
    Set<Long> committed = ConcurrentHashMap.newKeySet();
    IdempotentConsumer.Builder<String> builder =
        consumerBuilder(config(name, name).build(), Payloads.utf8(), closer.add(pool(4)))
            .handler((value, ctx) -> insertEffect(effects, value, ctx));
    assertThat(FaultAccess.afterDatabaseCommit(builder, r -> committed.add(r.offset())))
        .isSameAs(builder);
    IdempotentConsumer<String> consumer = closer.add(builder.build());
    consumer.start();
    send(List.of(record(name, 0, "k", "e1", "one"), record(name, 0, "k", "e2", "two")));

    awaitTrue(Duration.ofSeconds(30), "both records committed", () -> committed.size() == 2);
    assertThat(committed).containsExactlyInAnyOrder(0L, 1L);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(2);
  }

  @Test
  void aShareConsumersAfterCommitActionRunsBeforeTheRecordIsAcknowledged() throws Exception {
    String name = TestInfrastructure.uniqueName("faultaccess-share");
    String effects = name.replace('-', '_');
    INFRA.createTopics(1, name);
    createEffectsTable(effects);
    Set<Long> committed = ConcurrentHashMap.newKeySet();
    IdempotentShareConsumer.Builder<String> builder =
        shareConsumerBuilder(
                ShareGroupTest.config(name, name).build(), Payloads.utf8(), closer.add(pool(4)))
            .handler((value, ctx) -> insertEffect(effects, value, ctx));
    assertThat(FaultAccess.afterDatabaseCommit(builder, r -> committed.add(r.offset())))
        .isSameAs(builder);
    IdempotentShareConsumer<String> consumer = closer.add(builder.build());
    consumer.start();
    send(List.of(record(name, 0, "k", "e1", "one"), record(name, 0, "k", "e2", "two")));

    awaitTrue(Duration.ofSeconds(30), "both records committed", () -> committed.size() == 2);
    assertThat(committed).containsExactlyInAnyOrder(0L, 1L);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(2);
  }
}
