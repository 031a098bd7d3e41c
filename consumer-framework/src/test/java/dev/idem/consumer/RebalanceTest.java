package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A second instance joins while records flow, then leaves; nothing is lost, doubled or reordered.
 */
class RebalanceTest {
  private static final int KEYS = 20;
  private static final int PER_KEY = 60;

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cooperative-sticky", "eager-range", "consumer-protocol"})
  void anInstanceJoiningAndLeavingMidStreamKeepsExactlyOnceAndPerKeyOrder(String protocol)
      throws Exception {
    String name = TestInfrastructure.uniqueName("rebalance_" + protocol);
    INFRA.createTopics(4, name);
    String table = name + "_seq";
    ParallelDispatchTest.createSequenceTable(table);

    IdemConfig config = protocolConfig(config(name, name).concurrency(4), protocol).build();
    EventHandler<String> handler =
        (value, ctx) -> {
          ParallelDispatchTest.insertSequence(table, value, ctx);
          Thread.sleep(2);
        };
    ExecutorService producerThread = Executors.newSingleThreadExecutor();
    try (HikariDataSource poolA = pool(6);
        HikariDataSource poolB = pool(6);
        IdempotentConsumer<String> a = build(config, poolA, handler)) {
      a.start();
      Future<?> producing = producerThread.submit(() -> produceSlowly(name));
      awaitTrue(Duration.ofSeconds(60), "A under way", () -> a.snapshot().processed() > 150);

      IdempotentConsumer<String> b = build(config, poolB, handler);
      try {
        b.start();
        awaitTrue(
            Duration.ofSeconds(60),
            "B took partitions and worked",
            () -> !b.snapshot().assigned().isEmpty() && b.snapshot().processed() > 50);
        assertThat(a.snapshot().rebalances()).isGreaterThan(1);
      } finally {
        b.close(); // leaves the group: A takes the partitions back
      }
      producing.get(120, TimeUnit.SECONDS);
      long total = (long) KEYS * PER_KEY;
      awaitTrue(
          Duration.ofSeconds(120),
          "everything applied",
          () -> {
            try {
              return count("SELECT count(*) FROM " + table) >= total;
            } catch (Exception e) {
              return false;
            }
          });
      awaitTrue(Duration.ofSeconds(60), "A committed to the end", () -> committedToEnd(name, a));
      assertThat(ParallelDispatchTest.assertStrictlyIncreasingPerKey(table)).isEqualTo(total);
      assertThat(count("SELECT count(DISTINCT event_id) FROM " + table)).isEqualTo(total);
      assertThat(a.snapshot().processed() + b.snapshot().processed()).isEqualTo(total);
    } finally {
      producerThread.shutdownNow();
    }
  }

  private static boolean committedToEnd(String topic, IdempotentConsumer<?> consumer) {
    try {
      Map<org.apache.kafka.common.TopicPartition, Long> end = endOffsets(topic, 4);
      Map<org.apache.kafka.common.TopicPartition, Long> committed = committedOffsets(topic);
      return end.entrySet().stream()
          .allMatch(e -> e.getValue() == 0 || e.getValue().equals(committed.get(e.getKey())));
    } catch (Exception e) {
      return false;
    }
  }

  private static IdemConfig.Builder protocolConfig(IdemConfig.Builder b, String protocol) {
    return switch (protocol) {
      case "cooperative-sticky" ->
          b.kafka(
              "partition.assignment.strategy",
              "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
      case "eager-range" ->
          b.kafka(
              "partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
      default -> b.kafka("group.protocol", "consumer");
    };
  }

  private static IdempotentConsumer<String> build(
      IdemConfig config, HikariDataSource pool, EventHandler<String> handler) {
    return consumerBuilder(config, Payloads.utf8(), pool).handler(handler).build();
  }

  /** Sends every key's sequence in order, spread over a few seconds. */
  private static Void produceSlowly(String topic) throws Exception {
    for (int seq = 0; seq < PER_KEY; seq++) {
      List<ProducerRecord<byte[], byte[]>> batch = new ArrayList<>();
      for (int k = 0; k < KEYS; k++) {
        batch.add(
            record(topic, null, "acct-" + k, "acct-" + k + "-" + seq, "acct-" + k + ":" + seq));
      }
      send(batch);
      Thread.sleep(60);
    }
    return null;
  }
}
