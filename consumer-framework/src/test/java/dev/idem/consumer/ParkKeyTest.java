package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code consumer.dead-letter.on-failure=park-key}: a dead letter parks its ordering key, the key's
 * later records queue behind it in order while other keys flow, and a replay (or a discard)
 * releases them in order, exactly once.
 */
class ParkKeyTest {
  @RegisterExtension final Closer closer = new Closer();

  private final Set<String> broken = ConcurrentHashMap.newKeySet();

  private IdempotentConsumer<String> start(IdemConfig config, String ledger) {
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(4)))
                .handler(
                    (value, ctx) -> {
                      if (broken.contains(ctx.eventId())) {
                        throw new IllegalStateException("cannot apply " + ctx.eventId());
                      }
                      try (PreparedStatement ps =
                          ctx.connection()
                              .prepareStatement(
                                  "INSERT INTO " + ledger + " (event_id, k) VALUES (?, ?)")) {
                        ps.setString(1, ctx.eventId());
                        ps.setString(2, new String(ctx.key()));
                        ps.executeUpdate();
                      }
                    })
                .build());
    consumer.start();
    return consumer;
  }

  private static IdemConfig parkConfig(String name) {
    return config(name, name)
        .deadLetterMode(DeadLetterMode.PARK_KEY)
        .retry(RetryPolicy.fixed(2, Duration.ofMillis(20)))
        .build();
  }

  private static void createLedger(String ledger) throws Exception {
    sql("CREATE TABLE " + ledger + " (id bigserial PRIMARY KEY, event_id text NOT NULL, k text)");
  }

  @Test
  void aDeadLetterParksItsKeyAndAReplayAppliesTheParkedRecordsOnceInOrder() throws Exception {
    String name = TestInfrastructure.uniqueName("park");
    INFRA.createTopics(1, name);
    String ledger = name + "_ledger";
    createLedger(ledger);
    broken.add("k1");
    IdemConfig config = parkConfig(name);
    IdempotentConsumer<String> consumer = start(config, ledger);
    send(
        List.of(
            record(name, 0, "K", "k1", "payment"),
            record(name, 0, "K", "k2", "refund"),
            record(name, 0, "L", "l1", "payment"),
            record(name, 0, "K", "k3", "fee"),
            record(name, 0, "L", "l2", "refund")));
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "the other key applied, the partition committed to its end",
        () ->
            consumer.snapshot().processed() == 2
                && Long.valueOf(5).equals(consumer.snapshot().committed().get(tp)));

    assertThat(ledgerOrder(ledger)).containsExactly("l1", "l2");
    assertThat(deadLetters(name)).containsExactly("k1/handler-failed", "k2/parked", "k3/parked");
    assertThat(consumer.snapshot().deadLettered()).isEqualTo(3);
    assertThat(parkedKeys(name)).isEqualTo(1);

    send(List.of(record(name, 0, "K", "k4", "payment")));
    awaitTrue(
        Duration.ofSeconds(30), "queued behind", () -> consumer.snapshot().deadLettered() == 4);

    broken.clear(); // the handler is fixed
    try (HikariDataSource pool = pool(2);
        DeadLetterReplayer replayer = DeadLetterReplayer.create(config, pool)) {
      assertThat(replayer.replay(DeadLetterReplayer.Request.all(100)).replayed())
          .containsExactly("k1", "k2", "k3", "k4");
    }
    awaitTrue(Duration.ofSeconds(60), "released", () -> consumer.snapshot().processed() == 6);
    awaitTrue(Duration.ofSeconds(30), "key no longer parked", () -> parkedKeysQuietly(name) == 0);

    assertThat(ledgerOrder(ledger)).containsExactly("l1", "l2", "k1", "k2", "k3", "k4");
    assertThat(deadLetters(name)).isEmpty();

    // Later records of the key go straight through again; copies stay duplicates.
    send(List.of(record(name, 0, "K", "k5", "fee"), record(name, 0, "K", "k2", "refund")));
    awaitTrue(
        Duration.ofSeconds(30),
        "after the release",
        () -> consumer.snapshot().processed() == 7 && consumer.snapshot().duplicates() == 1);
    assertThat(ledgerOrder(ledger)).containsExactly("l1", "l2", "k1", "k2", "k3", "k4", "k5");
  }

  @Test
  void discardingTheParkedRecordReleasesTheRestInOrderAndItsCopiesAreSkipped() throws Exception {
    String name = TestInfrastructure.uniqueName("parkdiscard");
    INFRA.createTopics(1, name);
    String ledger = name + "_ledger";
    createLedger(ledger);
    broken.add("d1");
    IdemConfig config = parkConfig(name);
    IdempotentConsumer<String> consumer = start(config, ledger);
    send(
        List.of(
            record(name, 0, "K", "d1", "payment"),
            record(name, 0, "K", "d2", "refund"),
            record(name, 0, "K", "d3", "fee")));
    awaitTrue(Duration.ofSeconds(60), "parked", () -> consumer.snapshot().deadLettered() == 3);

    DeadLetterReplayer.Discarded discarded;
    try (HikariDataSource pool = pool(2);
        DeadLetterReplayer replayer = DeadLetterReplayer.create(config, pool)) {
      discarded = replayer.discard(new DeadLetterReplayer.Request(List.of("d1"), null, 10));
    }
    assertThat(discarded.discarded()).containsExactly("d1");
    assertThat(discarded.released()).containsExactly("d2", "d3");
    awaitTrue(Duration.ofSeconds(60), "released", () -> consumer.snapshot().processed() == 2);
    assertThat(ledgerOrder(ledger)).containsExactly("d2", "d3");

    send(List.of(record(name, 0, "K", "d1", "payment")));
    awaitTrue(Duration.ofSeconds(30), "copy skipped", () -> consumer.snapshot().duplicates() == 1);
    assertThat(ledgerOrder(ledger)).containsExactly("d2", "d3");
    assertThat(deadLetters(name)).isEmpty();
    assertThat(parkedKeys(name)).isZero();
  }

  @Test
  void parkKeyIsRefusedInBatchModeAndABadValueNamesTheKey() {
    IdemConfig config = parkConfig("parkbatch");
    assertThatThrownBy(
            () ->
                consumerBuilder(config, Payloads.utf8(), INFRA.postgres().dataSource())
                    .batchHandler((events, ctx) -> {})
                    .build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("consumer.dead-letter.on-failure")
        .hasMessageContaining("batch mode");
    assertThatThrownBy(
            () -> config("parkbad", "t").set("consumer.dead-letter.on-failure", "hold").build())
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("consumer.dead-letter.on-failure")
        .hasMessageContaining("park-key");
  }

  private static List<String> ledgerOrder(String ledger) throws Exception {
    List<String> ids = new ArrayList<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT event_id FROM " + ledger + " ORDER BY id")) {
      while (rs.next()) {
        ids.add(rs.getString(1));
      }
    }
    return ids;
  }

  private static List<String> deadLetters(String consumer) throws Exception {
    List<String> rows = new ArrayList<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT event_id || '/' || reason FROM idem.dead_letters WHERE consumer_name = ?"
                    + " ORDER BY id",
                consumer);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        rows.add(rs.getString(1));
      }
    }
    return rows;
  }

  private static long parkedKeys(String consumer) throws Exception {
    return count(
        "SELECT count(*) FROM idem.dead_letters_parked_keys WHERE consumer_name = ?", consumer);
  }

  private static long parkedKeysQuietly(String consumer) {
    try {
      return parkedKeys(consumer);
    } catch (Exception e) {
      return -1;
    }
  }
}
