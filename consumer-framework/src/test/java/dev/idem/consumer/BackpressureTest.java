package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Backpressure is per partition: one partition that cannot move (a retrying key with a queue behind
 * it, a stuck record with finished records behind it) is paused alone, and memory stays bounded.
 */
class BackpressureTest {
  /** Records behind the stuck one in the bounded-tracker test; 200,000 with -Didem.soak=true. */
  private static final int BEHIND = Boolean.getBoolean("idem.soak") ? 200_000 : 5_000;

  @RegisterExtension final Closer closer = new Closer();

  @Test
  void aKeyRetryingFor20SecondsHoldsBackOnlyItsOwnPartition() throws Exception {
    String name = TestInfrastructure.uniqueName("hol");
    INFRA.createTopics(3, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    long retryFor = Duration.ofSeconds(20).toNanos();
    AtomicLong firstFailure = new AtomicLong();
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(
                    config(name, name)
                        .concurrency(4)
                        .maxInFlight(500)
                        .maxInFlightPerPartition(100)
                        .kafka("max.poll.records", 50)
                        .retry(RetryPolicy.fixed(1000, Duration.ofMillis(200)))
                        .build(),
                    Payloads.utf8(),
                    closer.add(pool(6)))
                .handler(
                    (value, ctx) -> {
                      if (ctx.eventId().equals("stuck-0")) {
                        firstFailure.compareAndSet(0, System.nanoTime());
                        if (System.nanoTime() - firstFailure.get() < retryFor) {
                          throw new IllegalStateException("downstream says try later");
                        }
                      }
                      insertEffect(effects, value, ctx);
                    })
                .build());
    consumer.start();
    // The retrying key on partition 0 with 600 records of it queued behind: more than the whole
    // instance may hold in flight.
    List<ProducerRecord<byte[], byte[]>> stuck = new ArrayList<>();
    for (int i = 0; i < 601; i++) {
      stuck.add(record(name, 0, "stuck", "stuck-" + i, "s" + i));
    }
    send(stuck);
    awaitTrue(
        Duration.ofSeconds(30),
        "the retrying key's partition paused",
        () -> consumer.snapshot().paused().contains(new TopicPartition(name, 0)));

    List<ProducerRecord<byte[], byte[]>> others = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      others.add(record(name, 1 + i % 2, "k" + i, "other-" + i, "o" + i));
    }
    send(others);
    Map<TopicPartition, Long> end = endOffsets(name, 3);
    awaitTrue(
        Duration.ofSeconds(60),
        "the other partitions committed to their end",
        () -> {
          Map<TopicPartition, Long> committed = consumer.snapshot().committed();
          return end.get(new TopicPartition(name, 1)).equals(committed.get(tp(name, 1)))
              && end.get(new TopicPartition(name, 2)).equals(committed.get(tp(name, 2)));
        });
    long elapsed = System.nanoTime() - firstFailure.get();
    assertThat(elapsed)
        .as("the other partitions committed while the key was still retrying")
        .isLessThan(retryFor);
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id LIKE 'other-%'"))
        .isEqualTo(200);
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id LIKE 'stuck-%'"))
        .isZero();

    awaitTrue(
        Duration.ofSeconds(90),
        "the retrying key applied after its retries",
        () -> end.get(tp(name, 0)).equals(consumer.snapshot().committed().get(tp(name, 0))));
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(801);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(801);
  }

  @Test
  void aStuckRecordWithManyFinishedRecordsBehindItPausesItsPartitionAtTheBound() throws Exception {
    String name = TestInfrastructure.uniqueName("bounded");
    INFRA.createTopics(3, name);
    int bound = BEHIND >= 200_000 ? 10_000 : 1_000;
    int pollRecords = 200;
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger handled = new AtomicInteger();
    IdemConfig.Builder cfg =
        config(name, name)
            .offsetStore(OffsetStore.POSTGRESQL)
            .concurrency(4)
            .kafka("max.poll.records", pollRecords);
    if (!Boolean.getBoolean("idem.soak")) {
      cfg.maxUncommittedPerPartition(bound);
    }
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(cfg.build(), Payloads.utf8(), closer.add(pool(6)))
                .orderingKey(OrderingKeys.none())
                .handler(
                    (value, ctx) -> {
                      if (ctx.eventId().equals("head")) {
                        release.await();
                      }
                      handled.incrementAndGet();
                    })
                .build());
    consumer.start();
    TopicPartition stuck = tp(name, 0);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    records.add(record(name, 0, "h", "head", "h"));
    for (int i = 0; i < BEHIND; i++) {
      records.add(record(name, 0, "b" + i, "behind-" + i, "b"));
    }
    for (int i = 0; i < 300; i++) {
      records.add(record(name, 1 + i % 2, "o" + i, "other-" + i, "o"));
    }
    send(records);
    Map<TopicPartition, Long> end = endOffsets(name, 3);

    AtomicInteger mostUncommitted = new AtomicInteger();
    awaitTrue(
        Duration.ofSeconds(120),
        "partition 0 paused at the bound and the others committed to their end",
        () -> {
          ConsumerSnapshot s = consumer.snapshot();
          mostUncommitted.accumulateAndGet(s.uncommitted().getOrDefault(stuck, 0), Math::max);
          return s.paused().contains(stuck)
              && s.uncommitted().getOrDefault(stuck, 0) >= bound
              && end.get(tp(name, 1)).equals(s.committed().get(tp(name, 1)))
              && end.get(tp(name, 2)).equals(s.committed().get(tp(name, 2)));
        });
    // Stays there: nothing more of partition 0 is fetched while its head is stuck.
    org.awaitility.Awaitility.await("partition 0 stays paused")
        .during(Duration.ofSeconds(1))
        .atMost(Duration.ofSeconds(5))
        .pollInterval(Duration.ofMillis(20))
        .until(
            () -> {
              ConsumerSnapshot s = consumer.snapshot();
              mostUncommitted.accumulateAndGet(s.uncommitted().getOrDefault(stuck, 0), Math::max);
              return s.paused().contains(stuck);
            });
    assertThat(mostUncommitted.get()).isLessThanOrEqualTo(bound + pollRecords);
    assertThat(doneRows(name, 0)).isLessThanOrEqualTo(bound + pollRecords);
    assertThat(consumer.snapshot().committed().get(stuck)).isNull();

    release.countDown();
    awaitTrue(
        Duration.ofSeconds(300),
        "everything committed",
        () -> end.get(stuck).equals(consumer.snapshot().committed().get(stuck)));
    assertThat(handled.get()).isEqualTo(BEHIND + 301);
    assertThat(doneRows(name, 0)).isLessThanOrEqualTo(bound + pollRecords);
  }

  private static TopicPartition tp(String topic, int partition) {
    return new TopicPartition(topic, partition);
  }

  private static long doneRows(String consumer, int partition) throws SQLException {
    try (java.sql.Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT coalesce(sum(last_offset - first_offset + 1), 0)"
                    + " FROM idem.consumer_offsets_done"
                    + " WHERE consumer_name = ? AND kafka_partition = ?")) {
      ps.setString(1, consumer);
      ps.setInt(2, partition);
      try (java.sql.ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }
}
