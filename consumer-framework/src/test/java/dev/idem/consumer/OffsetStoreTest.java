package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.INFRA;
import static dev.idem.consumer.IdemTestSupport.admin;
import static dev.idem.consumer.IdemTestSupport.awaitTrue;
import static dev.idem.consumer.IdemTestSupport.committedOffsets;
import static dev.idem.consumer.IdemTestSupport.config;
import static dev.idem.consumer.IdemTestSupport.consumerBuilder;
import static dev.idem.consumer.IdemTestSupport.count;
import static dev.idem.consumer.IdemTestSupport.countQuietly;
import static dev.idem.consumer.IdemTestSupport.createEffectsTable;
import static dev.idem.consumer.IdemTestSupport.endOffsets;
import static dev.idem.consumer.IdemTestSupport.insertEffect;
import static dev.idem.consumer.IdemTestSupport.pool;
import static dev.idem.consumer.IdemTestSupport.record;
import static dev.idem.consumer.IdemTestSupport.send;
import static dev.idem.consumer.IdemTestSupport.strings;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.testkit.TestInfrastructure;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code consumer.offset-store=postgresql}: done offsets are recorded in the processing
 * transactions, folded into a stored position, and read back on assignment. Every test counts the
 * transactions a consumer opens (the fault hook sees each one begin) and compares them with what
 * PostgreSQL recorded as done before that consumer started.
 */
class OffsetStoreTest {
  @RegisterExtension final Closer closer = new Closer();

  /** Kills during parallel dispatch, per record and in batches. */
  @ParameterizedTest(name = "batch mode: {0}")
  @ValueSource(booleans = {false, true})
  void aRestartAfterAKillNeverReopensATransactionForADoneOffset(boolean batch) throws Exception {
    String name = TestInfrastructure.uniqueName(batch ? "pgoff-kill-batch" : "pgoff-kill");
    int partitions = 3;
    INFRA.createTopics(partitions, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    long seed = System.nanoTime();
    Random random = new Random(seed);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    int unique = 600;
    for (int i = 0; i < unique; i++) {
      String key = "k" + (i % 40);
      records.add(record(name, Math.floorMod(key.hashCode(), partitions), key, "e-" + i, "v" + i));
      if (random.nextInt(2) == 0) { // a copy on a random partition
        records.add(record(name, random.nextInt(partitions), key, "e-" + i, "v" + i));
      }
    }
    send(records);
    Map<TopicPartition, Long> end = endOffsets(name, partitions);

    int crashes = 4;
    for (int run = 0; run <= crashes; run++) {
      Set<String> doneBefore = doneOffsets(name, end);
      Set<String> opened = ConcurrentHashMap.newKeySet();
      Set<String> handled = ConcurrentHashMap.newKeySet();
      int crashAfter = run < crashes ? 30 + random.nextInt(60) : Integer.MAX_VALUE;
      AtomicInteger commits = new AtomicInteger();
      FaultHook hook =
          new FaultHook() {
            @Override
            public void transactionStarted(ConsumerRecord<byte[], byte[]> r) {
              opened.add(r.partition() + "@" + r.offset());
            }

            @Override
            public void afterDatabaseCommit(ConsumerRecord<byte[], byte[]> r) {
              if (commits.incrementAndGet() == crashAfter) {
                throw new SimulatedCrash("killed after database commit " + crashAfter);
              }
            }
          };
      IdemConfig.Builder cfg =
          config(name, name)
              .offsetStore(OffsetStore.POSTGRESQL)
              .concurrency(4)
              .batchSize(25)
              .commitInterval(Duration.ofMillis(100));
      IdempotentConsumer.Builder<String> builder =
          consumerBuilder(cfg.build(), Payloads.utf8(), closer.add(pool(6))).faultHook(hook);
      if (batch) {
        builder.batchHandler(
            (events, ctx) -> {
              for (BatchEvent<String> e : events) {
                handled.add(e.partition() + "@" + e.offset());
                insertBatchEffect(effects, e, ctx);
              }
            });
      } else {
        builder.handler(
            (value, ctx) -> {
              handled.add(ctx.partition() + "@" + ctx.offset());
              insertEffect(effects, value, ctx);
            });
      }
      IdempotentConsumer<String> consumer = closer.add(builder.build());
      consumer.start();
      if (run < crashes) {
        awaitTrue(
            Duration.ofSeconds(90),
            "killed in run " + run,
            () -> consumer.snapshot().state() == ConsumerState.FAILED);
      } else {
        awaitTrue(
            Duration.ofSeconds(90),
            "all effects applied",
            () -> countQuietly("SELECT count(DISTINCT event_id) FROM " + effects) == unique);
      }
      consumer.close();

      Set<String> reopened = new HashSet<>(opened);
      reopened.retainAll(doneBefore);
      assertThat(reopened)
          .as("transactions for offsets done before run %d (seed %d)", run, seed)
          .isEmpty();
      assertThat(handled).as("handler calls of run %d", run).isSubsetOf(opened);
      if (run > 0) {
        assertThat(doneBefore).as("done before run %d", run).isNotEmpty();
      }
    }

    assertThat(count("SELECT count(*) FROM " + effects)).as("seed %d", seed).isEqualTo(unique);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(unique);
    assertThat(storedPositions(name)).isEqualTo(end);
    assertThat(count(DONE_ROWS, name)).as("done rows left after a clean close").isZero();
    assertThat(committedOffsets(name)).isEqualTo(end);
  }

  @Test
  void theStoredPositionStopsAtASlowRecordAndARestartRedoesOnlyWhatIsNotDone() throws Exception {
    String name = TestInfrastructure.uniqueName("pgoff-slow");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    int slow = 5;
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      records.add(record(name, 0, "k" + i, "e-" + i, "v" + i)); // distinct keys: run in parallel
    }
    send(records);
    CountDownLatch never = new CountDownLatch(1);
    IdempotentConsumer<String> first =
        closer.add(
            consumerBuilder(
                    config(name, name)
                        .offsetStore(OffsetStore.POSTGRESQL)
                        .concurrency(4)
                        .commitInterval(Duration.ofMillis(100))
                        .build(),
                    Payloads.utf8(),
                    closer.add(pool(6)))
                .handler(
                    (value, ctx) -> {
                      if (ctx.offset() == slow) {
                        never.await(); // until the consumer is killed and its workers interrupted
                      }
                      insertEffect(effects, value, ctx);
                    })
                .build());
    first.start();
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(60),
        "every record but the slow one done, and the position folded up to it",
        () ->
            countQuietly(DONE_ROWS, name) == 14
                && Long.valueOf(slow).equals(storedPositionsQuietly(name).get(tp)));
    assertThat(
            strings(
                "SELECT first_offset || '-' || last_offset FROM idem.consumer_offsets_done"
                    + " WHERE consumer_name = ?",
                name))
        .hasSize(14) // one run per record in this mode
        .doesNotContain(slow + "-" + slow);
    first.crash();
    first.close();
    assertThat(storedPositions(name)).containsEntry(tp, (long) slow);

    List<ProducerRecord<byte[], byte[]>> more = new ArrayList<>();
    for (int i = 20; i < 25; i++) {
      more.add(record(name, 0, "k" + i, "e-" + i, "v" + i));
    }
    send(more);
    Set<Long> opened = ConcurrentHashMap.newKeySet();
    IdempotentConsumer<String> second =
        closer.add(
            consumerBuilder(
                    config(name, name).offsetStore(OffsetStore.POSTGRESQL).concurrency(4).build(),
                    Payloads.utf8(),
                    closer.add(pool(6)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .faultHook(
                    new FaultHook() {
                      @Override
                      public void transactionStarted(ConsumerRecord<byte[], byte[]> r) {
                        opened.add(r.offset());
                      }
                    })
                .build());
    second.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "all 25 applied",
        () -> countQuietly("SELECT count(*) FROM " + effects) == 25);
    awaitTrue(
        Duration.ofSeconds(30),
        "position at the end",
        () -> Long.valueOf(25).equals(storedPositionsQuietly(name).get(tp)));
    assertThat(opened).containsExactlyInAnyOrder(5L, 20L, 21L, 22L, 23L, 24L);
    assertThat(second.snapshot().skipped()).isEqualTo(14);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(25);
  }

  @Test
  void aResetOfKafkasCommittedOffsetsToTheBeginningDoesNotRereadWhatIsDone() throws Exception {
    String name = TestInfrastructure.uniqueName("pgoff-reset");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    send(batchOfRecords(name, 0, 40));
    Set<String> firstOpened = ConcurrentHashMap.newKeySet();
    IdempotentConsumer<String> first = pgConsumer(name, effects, firstOpened);
    first.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "40 applied",
        () -> countQuietly("SELECT count(*) FROM " + effects) == 40);
    first.close();
    Map<TopicPartition, Long> end = endOffsets(name, 2);
    assertThat(storedPositions(name)).isEqualTo(end);

    // What kafka-consumer-groups --reset-offsets --to-earliest does, on the empty group.
    Map<TopicPartition, OffsetAndMetadata> beginning = new HashMap<>();
    end.keySet().forEach(tp -> beginning.put(tp, new OffsetAndMetadata(0)));
    try (Admin admin = admin()) {
      admin.alterConsumerGroupOffsets(name, beginning).all().get(30, TimeUnit.SECONDS);
    }
    assertThat(committedOffsets(name)).containsOnlyKeys(end.keySet()).containsValues(0L);

    send(batchOfRecords(name, 40, 50));
    Set<String> opened = ConcurrentHashMap.newKeySet();
    IdempotentConsumer<String> second = pgConsumer(name, effects, opened);
    second.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "the 10 new ones applied",
        () -> countQuietly("SELECT count(*) FROM " + effects) == 50);
    Map<TopicPartition, Long> newEnd = endOffsets(name, 2);
    awaitTrue(
        Duration.ofSeconds(30),
        "Kafka's committed offsets back at the end",
        () -> newEnd.equals(committedQuietly(name)));
    assertThat(opened).as("transactions opened after the reset").hasSize(10);
    assertAllAtOrAbove(opened, name, end);
    assertThat(second.snapshot().skipped()).isZero(); // it never even fetched the old records
    assertThat(second.snapshot().duplicates()).isZero();
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(50);
  }

  @Test
  void switchingAnExistingConsumerIntoTheModeStartsFromKafkasCommittedOffsets() throws Exception {
    String name = TestInfrastructure.uniqueName("pgoff-switch");
    INFRA.createTopics(2, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    send(batchOfRecords(name, 0, 30));
    IdempotentConsumer<String> kafkaMode =
        closer.add(
            consumerBuilder(config(name, name).build(), Payloads.utf8(), closer.add(pool(3)))
                .handler((value, ctx) -> insertEffect(effects, value, ctx))
                .build());
    kafkaMode.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "30 applied",
        () -> countQuietly("SELECT count(*) FROM " + effects) == 30);
    kafkaMode.close();
    Map<TopicPartition, Long> committed = committedOffsets(name);
    assertThat(committed).isEqualTo(endOffsets(name, 2));

    send(batchOfRecords(name, 30, 40));
    Set<String> opened = ConcurrentHashMap.newKeySet();
    IdempotentConsumer<String> pgMode = pgConsumer(name, effects, opened);
    pgMode.start();
    awaitTrue(
        Duration.ofSeconds(60),
        "the 10 new ones applied",
        () -> countQuietly("SELECT count(*) FROM " + effects) == 40);
    Map<TopicPartition, Long> end = endOffsets(name, 2);
    awaitTrue(
        Duration.ofSeconds(30),
        "positions stored at the end",
        () -> end.equals(storedPositionsQuietly(name)));
    assertThat(opened).hasSize(10);
    assertAllAtOrAbove(opened, name, committed);
    assertThat(pgMode.snapshot().duplicates()).isZero();
  }

  @Test
  void theModeIsConfiguredByKeyAndABadValueNamesTheKey() {
    assertThat(
            IdemConfig.builder("c")
                .bootstrapServers("localhost:9092")
                .topics("t")
                .set("consumer.offset-store", "PostgreSQL")
                .build()
                .offsetStore())
        .isEqualTo(OffsetStore.POSTGRESQL);
    assertThat(
            IdemConfig.builder("c")
                .bootstrapServers("localhost:9092")
                .topics("t")
                .build()
                .offsetStore())
        .isEqualTo(OffsetStore.KAFKA);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () ->
                IdemConfig.builder("c")
                    .bootstrapServers("localhost:9092")
                    .topics("t")
                    .set("consumer.offset-store", "zookeeper")
                    .build())
        .isInstanceOfSatisfying(
            IdemConfigException.class, e -> assertThat(e.key()).isEqualTo("consumer.offset-store"))
        .hasMessageContaining("kafka")
        .hasMessageContaining("postgresql");
  }

  private IdempotentConsumer<String> pgConsumer(String name, String effects, Set<String> opened) {
    return closer.add(
        consumerBuilder(
                config(name, name).offsetStore(OffsetStore.POSTGRESQL).concurrency(2).build(),
                Payloads.utf8(),
                closer.add(pool(4)))
            .handler((value, ctx) -> insertEffect(effects, value, ctx))
            .faultHook(
                new FaultHook() {
                  @Override
                  public void transactionStarted(ConsumerRecord<byte[], byte[]> r) {
                    opened.add(r.partition() + "@" + r.offset());
                  }
                })
            .build());
  }

  /** Every {@code partition@offset} in {@code opened} is at or above its partition's floor. */
  private static void assertAllAtOrAbove(
      Set<String> opened, String topic, Map<TopicPartition, Long> floors) {
    for (String o : opened) {
      int at = o.indexOf('@');
      TopicPartition tp = new TopicPartition(topic, Integer.parseInt(o.substring(0, at)));
      assertThat(Long.parseLong(o.substring(at + 1))).as(o).isGreaterThanOrEqualTo(floors.get(tp));
    }
  }

  private static List<ProducerRecord<byte[], byte[]>> batchOfRecords(
      String topic, int from, int to) {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = from; i < to; i++) {
      records.add(record(topic, i % 2, "k" + i, "e-" + i, "v" + i));
    }
    return records;
  }

  private static void insertBatchEffect(String table, BatchEvent<String> e, BatchContext ctx)
      throws java.sql.SQLException {
    try (PreparedStatement ps =
        ctx.connection()
            .prepareStatement(
                "INSERT INTO "
                    + table
                    + " (event_id, payload, partition, kafka_offset, attempt) VALUES (?, ?, ?, ?, ?)")) {
      ps.setString(1, e.eventId());
      ps.setString(2, e.payload());
      ps.setInt(3, e.partition());
      ps.setLong(4, e.offset());
      ps.setInt(5, ctx.attempt());
      ps.executeUpdate();
    }
  }

  private static final String DONE_ROWS =
      "SELECT count(*) FROM idem.consumer_offsets_done WHERE consumer_name = ?";

  /** Offsets PostgreSQL records as done: everything below the stored position, and done rows. */
  private static Set<String> doneOffsets(String consumer, Map<TopicPartition, Long> end)
      throws Exception {
    Set<String> done = new HashSet<>();
    Map<TopicPartition, Long> positions = storedPositionsIfAny(consumer);
    positions.forEach(
        (tp, next) -> {
          for (long o = 0; o < next; o++) {
            done.add(tp.partition() + "@" + o);
          }
        });
    if (tableExists()) {
      done.addAll(
          strings(
              "SELECT kafka_partition || '@' || o FROM idem.consumer_offsets_done,"
                  + " generate_series(first_offset, last_offset) AS o WHERE consumer_name = ?",
              consumer));
    }
    return done;
  }

  private static boolean tableExists() throws Exception {
    return count(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'idem'"
                + " AND tablename = 'consumer_offsets_done'")
        == 1;
  }

  private static Map<TopicPartition, Long> storedPositionsIfAny(String consumer) throws Exception {
    return tableExists() ? storedPositions(consumer) : Map.of();
  }

  private static Map<TopicPartition, Long> storedPositions(String consumer) throws Exception {
    Map<TopicPartition, Long> result = new HashMap<>();
    for (String row :
        strings(
            "SELECT topic || ' ' || kafka_partition || ' ' || next_offset"
                + " FROM idem.consumer_offsets WHERE consumer_name = ?",
            consumer)) {
      String[] parts = row.split(" ");
      result.put(
          new TopicPartition(parts[0], Integer.parseInt(parts[1])), Long.parseLong(parts[2]));
    }
    return result;
  }

  private static Map<TopicPartition, Long> storedPositionsQuietly(String consumer) {
    try {
      return storedPositions(consumer);
    } catch (Exception e) {
      return Map.of();
    }
  }

  private static Map<TopicPartition, Long> committedQuietly(String group) {
    try {
      return committedOffsets(group);
    } catch (Exception e) {
      return Map.of();
    }
  }
}
