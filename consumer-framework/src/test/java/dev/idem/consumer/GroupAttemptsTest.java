package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.SoftAssertions.assertSoftly;

import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * How the attempts of a record are counted when it fails in a grouped transaction or a batch and
 * then goes the per-record way: {@code ctx.attempt()} never repeats for one record, the dead letter
 * states how often the handler ran, and the retries meter counts every run after the first.
 */
class GroupAttemptsTest {
  private static final int RECORDS = 4;

  @RegisterExtension final Closer closer = new Closer();

  /** The {@code ctx.attempt()} of every handler run, by event id, in the order of the runs. */
  private final Map<String, List<Integer>> runs = new ConcurrentHashMap<>();

  private final MeterRegistry meters = new SimpleMeterRegistry();

  /**
   * Four records on partition 0, event ids e0..e3: e0 and e2 keyed "a", e1 and e3 keyed "b". The
   * test's handlers fail on e1 every time; in grouped mode e3 is held back behind it.
   */
  private static List<ProducerRecord<byte[], byte[]>> fourRecords(String topic) {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < RECORDS; i++) {
      records.add(record(topic, 0, i % 2 == 0 ? "a" : "b", "e" + i, "v" + i));
    }
    return records;
  }

  private void ran(String eventId, int attempt) {
    runs.computeIfAbsent(eventId, id -> new CopyOnWriteArrayList<>()).add(attempt);
  }

  /**
   * Starts {@code builder}'s consumer on a gate, lets its first run take every record and waits
   * until the partition's offset is committed past them.
   */
  private IdempotentConsumer<String> runToTheEnd(
      IdempotentConsumer.Builder<String> builder, String name) {
    GateExecutor gate = closer.add(new GateExecutor());
    IdempotentConsumer<String> c = closer.add(builder.executor(gate).meterRegistry(meters).build());
    c.start();
    awaitTrue(
        Duration.ofSeconds(60), "every record in flight", () -> c.snapshot().inFlight() == RECORDS);
    gate.open();
    awaitTrue(
        Duration.ofSeconds(60),
        "offset committed past every record",
        () -> {
          try {
            return Long.valueOf(RECORDS)
                .equals(committedOffsets(name).get(new TopicPartition(name, 0)));
          } catch (Exception e) {
            return false;
          }
        });
    return c;
  }

  private double retries(String name) {
    return meters
        .get("idem.records.retries")
        .tags("consumer", name, "topic", name)
        .counter()
        .count();
  }

  private static long deadLetterAttempts(String name, String eventId) throws Exception {
    return count(
        "SELECT attempts FROM idem.dead_letters WHERE consumer_name = ? AND event_id = ?",
        name,
        eventId);
  }

  /** The attempts 1, 2, ..., n. */
  private static List<Integer> oneTo(int n) {
    return IntStream.rangeClosed(1, n).boxed().toList();
  }

  /** Runs after the first of each record: each of them is a retry. */
  private long runsAfterTheFirst() {
    return runs.values().stream().mapToLong(r -> r.size() - 1).sum();
  }

  @ParameterizedTest(name = "max-attempts {0}")
  @ValueSource(ints = {1, 3})
  void aRecordThatFailsInAGroupedTransactionHasThatRunCountedAsItsFirstAttempt(int maxAttempts)
      throws Exception {
    String name = TestInfrastructure.uniqueName("grouped-attempts");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(fourRecords(name));
    IdemConfig config =
        config(name, name)
            .transactionMaxRecords(32)
            .retry(RetryPolicy.fixed(maxAttempts, Duration.ofMillis(50)))
            .build();
    EventHandler<String> handler =
        (event, ctx) -> {
          ran(ctx.eventId(), ctx.attempt());
          insertEffect(name, event, ctx);
          if (ctx.eventId().equals("e1")) {
            throw new IllegalStateException("e1 always fails");
          }
        };

    runToTheEnd(
        consumerBuilder(config, Payloads.utf8(), closer.add(pool(4))).handler(handler), name);

    long deadLetterAttempts = deadLetterAttempts(name, "e1");
    long applied = count("SELECT count(*) FROM " + name + " WHERE event_id <> 'e1'");
    long appliedE1 = count("SELECT count(*) FROM " + name + " WHERE event_id = 'e1'");
    assertSoftly(
        soft -> {
          soft.assertThat(runs.get("e1"))
              .as("e1: the group's run is attempt 1; the policy allows %s in all", maxAttempts)
              .isEqualTo(oneTo(maxAttempts));
          soft.assertThat(deadLetterAttempts)
              .as("e1's dead letter's attempts: its handler's runs")
              .isEqualTo(runs.get("e1").size());
          soft.assertThat(runs.get("e3")).as("e3, held back behind e1").containsExactly(1);
          soft.assertThat(runs.get("e0")).as("e0").containsExactly(1);
          soft.assertThat(runs.get("e2")).as("e2").containsExactly(1);
          soft.assertThat(retries(name))
              .as("idem.records.retries, one per run after a record's first")
              .isEqualTo(runsAfterTheFirst());
          soft.assertThat(applied).as("e0, e2, e3 applied once").isEqualTo(3);
          soft.assertThat(appliedE1).as("e1 applied").isZero();
        });
  }

  @ParameterizedTest(name = "max-attempts {0}")
  @ValueSource(ints = {1, 3})
  void aFailedBatchCountsAsAnAttemptOfEachOfItsRecordsAndEachRunsAloneAtLeastOnce(int maxAttempts)
      throws Exception {
    String name = TestInfrastructure.uniqueName("batch-attempts");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    send(fourRecords(name));
    IdemConfig config =
        config(name, name)
            .batchSize(32)
            .retry(RetryPolicy.fixed(maxAttempts, Duration.ofMillis(50)))
            .build();
    BatchHandler<String> handler =
        (events, ctx) -> {
          for (BatchEvent<String> e : events) {
            ran(e.eventId(), ctx.attempt());
          }
          for (BatchEvent<String> e : events) {
            if (e.eventId().equals("e1")) {
              throw new IllegalStateException("e1 always fails");
            }
            try (PreparedStatement ps =
                ctx.connection()
                    .prepareStatement(
                        "INSERT INTO " + name + " (event_id, payload, attempt) VALUES (?, ?, ?)")) {
              ps.setString(1, e.eventId());
              ps.setString(2, e.payload());
              ps.setInt(3, ctx.attempt());
              ps.executeUpdate();
            }
          }
        };

    runToTheEnd(
        consumerBuilder(config, Payloads.utf8(), closer.add(pool(4))).batchHandler(handler), name);

    // Which record failed the batch is not known: the batch was attempt 1 of each, and each then
    // ran alone, e1 until it had no attempt left but at least once.
    int runsOfE1 = Math.max(maxAttempts, 2);
    long deadLetterAttempts = deadLetterAttempts(name, "e1");
    long appliedBySecondAttempt =
        count("SELECT count(*) FROM " + name + " WHERE attempt = 2 AND event_id <> 'e1'");
    long applied = count("SELECT count(*) FROM " + name);
    assertSoftly(
        soft -> {
          soft.assertThat(runs.get("e1")).as("e1").isEqualTo(oneTo(runsOfE1));
          soft.assertThat(deadLetterAttempts)
              .as("e1's dead letter's attempts: its handler's runs")
              .isEqualTo(runs.get("e1").size());
          for (String id : List.of("e0", "e2", "e3")) {
            soft.assertThat(runs.get(id))
                .as(id + ": in the batch, then alone")
                .containsExactly(1, 2);
          }
          soft.assertThat(appliedBySecondAttempt)
              .as("e0, e2, e3 applied by their second attempt")
              .isEqualTo(3);
          soft.assertThat(applied).as("rows applied").isEqualTo(3);
          soft.assertThat(retries(name))
              .as("idem.records.retries, one per run after a record's first")
              .isEqualTo(runsAfterTheFirst());
        });
  }

  @ParameterizedTest(name = "max-attempts {0}")
  @ValueSource(ints = {1, 3})
  void aShareRecordThatFailsInAGroupedTransactionHasThatRunCountedAsItsFirstAttempt(int maxAttempts)
      throws Exception {
    String name = TestInfrastructure.uniqueName("share-grouped-attempts");
    INFRA.createTopics(1, name);
    createEffectsTable(name);
    TestInfrastructure.setGroupConfig(
        bootstrap(), name, Map.of("share.record.lock.duration.ms", "5000"));
    send(fourRecords(name));
    IdemConfig config =
        config(name, name)
            .concurrency(1)
            .transactionMaxRecords(32)
            .retry(RetryPolicy.fixed(maxAttempts, Duration.ofMillis(50)))
            .build();
    EventHandler<String> handler =
        (event, ctx) -> {
          ran(ctx.eventId(), ctx.attempt());
          insertEffect(name, event, ctx);
          if (ctx.eventId().equals("e1")) {
            throw new IllegalStateException("e1 always fails");
          }
        };

    closer
        .add(
            shareConsumerBuilder(config, Payloads.utf8(), closer.add(pool(4)))
                .meterRegistry(meters)
                .handler(handler)
                .build())
        .start();
    awaitTrue(
        Duration.ofSeconds(60),
        "e1 dead-lettered and the others applied",
        () ->
            countQuietly("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name)
                    == 1
                && countQuietly("SELECT count(*) FROM " + name + " WHERE event_id <> 'e1'") == 3);

    long deadLetterAttempts = deadLetterAttempts(name, "e1");
    assertSoftly(
        soft -> {
          soft.assertThat(runs.get("e1"))
              .as("e1: the group's run is attempt 1; the policy allows %s in all", maxAttempts)
              .isEqualTo(oneTo(maxAttempts));
          soft.assertThat(deadLetterAttempts)
              .as("e1's dead letter's attempts: its handler's runs")
              .isEqualTo(runs.get("e1").size());
          for (String id : List.of("e0", "e2", "e3")) {
            soft.assertThat(runs.get(id)).as(id).containsExactly(1);
          }
        });
  }
}
