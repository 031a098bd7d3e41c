package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.INFRA;
import static dev.idem.consumer.IdemTestSupport.admin;
import static dev.idem.consumer.IdemTestSupport.awaitTrue;
import static dev.idem.consumer.IdemTestSupport.bootstrap;
import static dev.idem.consumer.IdemTestSupport.count;
import static dev.idem.consumer.IdemTestSupport.createEffectsTable;
import static dev.idem.consumer.IdemTestSupport.endOffsets;
import static dev.idem.consumer.IdemTestSupport.insertEffect;
import static dev.idem.consumer.IdemTestSupport.pool;
import static dev.idem.consumer.IdemTestSupport.record;
import static dev.idem.consumer.IdemTestSupport.send;
import static dev.idem.consumer.IdemTestSupport.shareConsumerBuilder;
import static dev.idem.consumer.IdemTestSupport.stays;
import static dev.idem.consumer.IdemTestSupport.strings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.assertj.core.api.SoftAssertions;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Share-group records whose handler outlasts the acquisition lock, hangs, or fails on what the
 * group's current settings make the last delivery: each ends in exactly one place (applied once, or
 * one dead letter) and the group has nothing left to deliver. Locks of 2 s and a delivery limit of
 * 2 keep each test within seconds.
 */
class ShareSlowHandlerTest {
  private static final String LOCK = "share.record.lock.duration.ms";
  private static final String LIMIT = "share.delivery.count.limit";
  private static final String RENEW = "share.renew.acknowledge.enable";

  private static final String DEAD_LETTERS =
      "SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ? AND event_id = ?";
  private static final String MARKS =
      "SELECT count(*) FROM idem.processed_events WHERE consumer_name = ? AND event_id = ?";

  @RegisterExtension final Closer closer = new Closer();

  @Test
  void aSlowRecordThatThenFailsIsDeadLetteredNotArchivedWithoutATrace() throws Exception {
    String name = TestInfrastructure.uniqueName("shareslowfail");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    // No renewal: the lock really expires under the slow handler.
    groupConfig(name, Map.of(LOCK, "2000", LIMIT, "2", RENEW, "false"));
    AtomicInteger slowCalls = new AtomicInteger();
    EventHandler<String> handler =
        (value, ctx) -> {
          if (ctx.eventId().equals("slow")) {
            slowCalls.incrementAndGet();
            // Past the last delivery's local retries and its dead-letter write's lock wait: the
            // earlier delivery still holds the event's advisory lock while the last one gives up.
            Thread.sleep(8000);
            throw new IllegalStateException("slow, then failed");
          }
          insertEffect(effects, value, ctx);
        };
    IdemConfig config = config(name).lockTimeout(Duration.ofSeconds(1)).build();
    DataSource pool = closer.add(pool(10));
    IdempotentShareConsumer<String> a = start(config, pool, handler, new SimpleMeterRegistry());
    IdempotentShareConsumer<String> b = start(config, pool, handler, new SimpleMeterRegistry());
    awaitTrue(
        Duration.ofSeconds(20), "both running", () -> a.health().ready() && b.health().ready());
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    records.add(record(name, 0, "k-slow", "slow", "s"));
    for (int i = 1; i <= 4; i++) {
      records.add(record(name, 0, "k-" + i, "n-" + i, "v" + i));
    }
    send(records);

    awaitTrue(
        Duration.ofSeconds(20),
        "the normal events applied",
        () -> rows("SELECT count(DISTINCT event_id) FROM " + effects) == 4);
    awaitQuietly(
        Duration.ofSeconds(20),
        () -> rows(DEAD_LETTERS, name, "slow") > 0 && leftToDeliver(name, name) == 0);

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(count(DEAD_LETTERS, name, "slow"))
        .as("dead letters of the slow event (handler called %d times)", slowCalls.get())
        .isEqualTo(1);
    soft.assertThat(count(MARKS, name, "slow")).as("processed marks of the slow event").isZero();
    soft.assertThat(count("SELECT count(*) FROM " + effects))
        .as("effects of the four normal events")
        .isEqualTo(4);
    soft.assertThat(leftToDeliver(name, name)).as("records left to deliver").isZero();
    soft.assertAll();
  }

  @Test
  void aHungHandlerIsAbandonedDeadLetteredAsHandlerTimeoutAndTheRecordsBehindItAreApplied()
      throws Exception {
    String name = TestInfrastructure.uniqueName("sharehung");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    groupConfig(name, Map.of(LOCK, "2000", LIMIT, "2"));
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger hungCalls = new AtomicInteger();
    MeterRegistry meters = new SimpleMeterRegistry();
    // One attempt per delivery, so that a hang is given up on rather than run again on the only
    // worker; room for a second abandoned thread in case the hang is redelivered once.
    IdemConfig config =
        config(name)
            .concurrency(1)
            .lockTimeout(Duration.ofSeconds(1))
            .handlerTimeout(Duration.ofSeconds(2))
            .maxAbandonedWorkers(2)
            .retry(RetryPolicy.fixed(1, Duration.ofMillis(100)))
            .build();
    IdempotentShareConsumer<String> consumer =
        start(
            config,
            closer.add(pool(6)),
            (value, ctx) -> {
              if (ctx.eventId().equals("hung")) {
                hungCalls.incrementAndGet();
                awaitIgnoringInterrupts(release);
                return;
              }
              insertEffect(effects, value, ctx);
            },
            meters);
    closer.add(release::countDown); // closed before the consumer: never leave a thread stuck
    send(
        List.of(
            record(name, 0, "k-hung", "hung", "h"),
            record(name, 0, "k-a", "a", "va"),
            record(name, 0, "k-b", "b", "vb"),
            record(name, 0, "k-c", "c", "vc")));

    awaitTrue(Duration.ofSeconds(20), "the hung handler entered", () -> hungCalls.get() > 0);
    awaitQuietly(
        Duration.ofSeconds(25), () -> rows("SELECT count(DISTINCT event_id) FROM " + effects) == 3);
    assertThat(strings("SELECT event_id FROM " + effects))
        .as(
            "events applied behind the hung one (stuck workers %d, abandoned %s)",
            consumer.health().stuckWorkers(), counter(meters, "idem.workers.abandoned", name))
        .containsExactlyInAnyOrder("a", "b", "c");
    awaitQuietly(
        Duration.ofSeconds(10),
        () -> rows(DEAD_LETTERS, name, "hung") > 0 && leftToDeliver(name, name) == 0);

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(strings("SELECT reason FROM idem.dead_letters WHERE consumer_name = ?", name))
        .as("dead-letter reasons")
        .containsExactly("handler-timeout");
    soft.assertThat(count(MARKS, name, "hung")).as("processed marks of the hung event").isZero();
    soft.assertThat(count("SELECT count(*) FROM " + effects)).as("effects").isEqualTo(3);
    soft.assertThat(leftToDeliver(name, name)).as("records left to deliver").isZero();
    // As in the consumer-group mode: the abandoned attempt is counted, and its thread, still
    // blocked, shows in the consumer's health until the latch is released.
    soft.assertThat(counter(meters, "idem.workers.abandoned", name))
        .as("abandoned workers")
        .isGreaterThanOrEqualTo(1.0);
    soft.assertThat(consumer.health().stuckWorkers()).as("stuck workers").isGreaterThanOrEqualTo(1);
    soft.assertAll();
  }

  @Test
  void aDeliveryLimitLoweredWhileRunningIsHonouredOnTheNewLastDelivery() throws Exception {
    String name = TestInfrastructure.uniqueName("sharelowered");
    INFRA.createTopics(1, name);
    groupConfig(name, Map.of(LOCK, "2000", LIMIT, "5"));
    AtomicInteger badCalls = new AtomicInteger();
    IdempotentShareConsumer<String> consumer =
        start(releasingOnFailure(name), closer.add(pool(6)), failing(badCalls), null);
    awaitTrue(Duration.ofSeconds(20), "running", () -> consumer.health().ready());
    groupConfig(name, Map.of(LIMIT, "2"));
    stays(Duration.ofSeconds(1), "running with the lowered limit", () -> consumer.health().ready());
    send(List.of(record(name, 0, "k", "bad", "b")));

    awaitQuietly(
        Duration.ofSeconds(20),
        () -> rows(DEAD_LETTERS, name, "bad") > 0 && leftToDeliver(name, name) == 0);

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(count(DEAD_LETTERS, name, "bad")).as("dead letters of bad").isEqualTo(1);
    // The retry's delay never fits in the lock: one handler call per delivery.
    soft.assertThat(badCalls.get()).as("deliveries of bad").isEqualTo(2);
    soft.assertThat(leftToDeliver(name, name)).as("records left to deliver").isZero();
    soft.assertAll();
  }

  @Test
  void aHandlerThreeLocksLongKeepsItsRecordByRenewalOneDeliveryNoRefusedAcknowledgement()
      throws Exception {
    String name = TestInfrastructure.uniqueName("sharerenew");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    groupConfig(name, Map.of(LOCK, "2000"));
    AtomicInteger longCalls = new AtomicInteger();
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    IdempotentShareConsumer<String> consumer =
        start(
            config(name).handlerTimeout(Duration.ofSeconds(30)).build(),
            closer.add(pool(6)),
            (value, ctx) -> {
              if (ctx.eventId().equals("long")) {
                longCalls.incrementAndGet();
                Thread.sleep(6000); // three acquisition locks
              } else {
                Thread.sleep(10);
              }
              insertEffect(effects, value, ctx);
            },
            meters);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    records.add(record(name, 0, "k-long", "long", "l"));
    // More short records than one poll acquires: some come with the slow one, some after it.
    int shortOnes = 150;
    for (int i = 1; i <= shortOnes; i++) {
      records.add(record(name, 0, "k-" + i, "n-" + i, "v" + i));
    }
    send(records);

    awaitTrue(
        Duration.ofSeconds(20),
        "every event applied",
        () -> rows("SELECT count(DISTINCT event_id) FROM " + effects) == shortOnes + 1);
    awaitTrue(
        Duration.ofSeconds(10), "nothing left to deliver", () -> leftToDeliver(name, name) == 0);

    SoftAssertions soft = new SoftAssertions();
    soft.assertThat(count("SELECT count(*) FROM " + effects))
        .as("effects")
        .isEqualTo(shortOnes + 1);
    soft.assertThat(longCalls.get()).as("handler calls for long").isEqualTo(1);
    soft.assertThat(consumer.acknowledgementsFailed())
        .as("acknowledgements the broker refused")
        .isZero();
    soft.assertThat(counter(meters, "idem.share.redelivered", name)).as("redeliveries").isZero();
    soft.assertAll();
  }

  @Test
  void aShareDeadLetterRowStatesItsDeliveryCount() throws Exception {
    String name = TestInfrastructure.uniqueName("sharedlcount");
    INFRA.createTopics(1, name);
    groupConfig(name, Map.of(LOCK, "2000", LIMIT, "2"));
    AtomicInteger badCalls = new AtomicInteger();
    start(releasingOnFailure(name), closer.add(pool(6)), failing(badCalls), null);
    send(List.of(record(name, 0, "k", "bad", "b")));

    awaitTrue(
        Duration.ofSeconds(20), "bad dead-lettered", () -> rows(DEAD_LETTERS, name, "bad") == 1);
    assertThat(
            count(
                "SELECT delivery_count FROM idem.dead_letters"
                    + " WHERE consumer_name = ? AND event_id = ?",
                name,
                "bad"))
        .as("the delivery count of bad's dead letter")
        .isEqualTo(2);
  }

  private static IdemConfig.Builder config(String name) {
    return IdemConfig.builder(name)
        .bootstrapServers(bootstrap())
        .topics(name)
        .concurrency(2)
        .drainTimeout(Duration.ofSeconds(5))
        .retry(RetryPolicy.fixed(100, Duration.ofMillis(300)));
  }

  /** One worker whose retry delay never fits in a 2 s lock: a failing delivery is released. */
  private static IdemConfig releasingOnFailure(String name) {
    return config(name).concurrency(1).retry(RetryPolicy.fixed(10, Duration.ofSeconds(5))).build();
  }

  /** Throws for the event "bad", counting its calls; does nothing for others. */
  private static EventHandler<String> failing(AtomicInteger badCalls) {
    return (value, ctx) -> {
      if (ctx.eventId().equals("bad")) {
        badCalls.incrementAndGet();
        throw new IllegalStateException("bad keeps failing");
      }
    };
  }

  private IdempotentShareConsumer<String> start(
      IdemConfig config, DataSource pool, EventHandler<String> handler, MeterRegistry meters) {
    IdempotentShareConsumer.Builder<String> builder =
        shareConsumerBuilder(config, Payloads.utf8(), pool).handler(handler);
    if (meters != null) {
      builder.meterRegistry(meters);
    }
    IdempotentShareConsumer<String> consumer = closer.add(builder.build());
    consumer.start();
    return consumer;
  }

  private static void groupConfig(String group, Map<String, String> values) {
    TestInfrastructure.setGroupConfig(bootstrap(), group, values);
  }

  /**
   * How many records of partition 0 of {@code topic} the share group {@code group} has not finished
   * (neither acknowledged nor archived): its lag, or the end offset less its start offset when the
   * broker gives no lag.
   */
  static long leftToDeliver(String group, String topic) {
    TopicPartition tp = new TopicPartition(topic, 0);
    try (Admin admin = admin()) {
      long end = endOffsets(topic, 1).get(tp);
      SharePartitionOffsetInfo info =
          admin
              .listShareGroupOffsets(
                  Map.of(group, new ListShareGroupOffsetsSpec().topicPartitions(List.of(tp))))
              .partitionsToOffsetInfo(group)
              .get(15, TimeUnit.SECONDS)
              .get(tp);
      if (info == null) {
        return end;
      }
      return info.lag().orElse(end - info.startOffset());
    } catch (Exception e) {
      throw new IllegalStateException("cannot read share group " + group + "'s offsets", e);
    }
  }

  /**
   * Waits until {@code condition} holds or {@code timeout} has passed, without failing: the
   * assertions that follow say what was not reached, with the values found.
   */
  private static void awaitQuietly(Duration timeout, BooleanSupplier condition) {
    try {
      await().atMost(timeout).pollInterval(Duration.ofMillis(100)).until(condition::getAsBoolean);
    } catch (ConditionTimeoutException e) {
      // Reported by the assertions.
    }
  }

  private static void awaitIgnoringInterrupts(CountDownLatch latch) {
    while (latch.getCount() > 0) {
      try {
        latch.await();
      } catch (InterruptedException e) {
        // On purpose: a call that cannot be interrupted, such as a socket read without a timeout.
      }
    }
  }

  /** The sum of the counters {@code meter} of consumer {@code name}, over their other tags. */
  private static double counter(MeterRegistry meters, String meter, String name) {
    return meters.find(meter).tag("consumer", name).counters().stream()
        .mapToDouble(Counter::count)
        .sum();
  }

  private static long rows(String query, Object... params) {
    try {
      return count(query, params);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }
}
