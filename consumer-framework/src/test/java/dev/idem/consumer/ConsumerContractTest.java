package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.INFRA;
import static dev.idem.consumer.IdemTestSupport.awaitTrue;
import static dev.idem.consumer.IdemTestSupport.config;
import static dev.idem.consumer.IdemTestSupport.count;
import static dev.idem.consumer.IdemTestSupport.countQuietly;
import static dev.idem.consumer.IdemTestSupport.createEffectsTable;
import static dev.idem.consumer.IdemTestSupport.insertEffect;
import static dev.idem.consumer.IdemTestSupport.pool;
import static dev.idem.consumer.IdemTestSupport.record;
import static dev.idem.consumer.IdemTestSupport.send;
import static dev.idem.consumer.IdemTestSupport.strings;
import static dev.idem.consumer.IdemTestSupport.swallowFailingStatement;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The exactly-once properties every idem consumer keeps, whichever group it reads in, written once
 * against {@link IdemConsumer} and {@link ConsumerBuilder}. A subclass per kind says how to build
 * its consumers and prepare their group; each property then runs against that kind on the shared
 * broker and database, and asserts on the database and on the consumer's snapshot and health.
 *
 * <p>Every test has a topic of two partitions, a consumer name and an effects table of its own.
 * Handlers write their effect row on the transaction's connection, into a table without a unique
 * key, so a second application would show as a second row.
 */
abstract class ConsumerContractTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  /** Three attempts 20 ms apart: a failing handler is retried twice, then given up. */
  private static final RetryPolicy RETRY = RetryPolicy.fixed(3, Duration.ofMillis(20));

  private static final int EVENTS = 20;

  @RegisterExtension final Closer closer = new Closer();

  /** The consumer's name, its group, its topic and the prefix of its effects table. */
  private String name;

  private String effects;

  /**
   * A builder of this kind of consumer with {@code pool} for its transactions and event ids from
   * the {@code webhook-id} header; the test adds the handler.
   */
  abstract ConsumerBuilder<String, ?> builder(IdemConfig config, DataSource pool);

  /** Sets what the group {@code group} needs before its first consumer starts. */
  abstract void prepareGroup(String group);

  /** Whether {@code consumer} has joined its group and gets records from now on. */
  abstract boolean joined(IdemConsumer consumer);

  @BeforeEach
  void ownTopicGroupAndEffectsTable() throws SQLException {
    name = TestInfrastructure.uniqueName(getClass().getSimpleName());
    effects = name + "_effects";
    INFRA.createTopics(2, name);
    createEffectsTable(effects);
    prepareGroup(name);
  }

  @Test
  void copiesOfOneEventOnDifferentPartitionsAreAppliedOnce() throws Exception {
    send(copiesOnBothPartitions());
    IdemConsumer consumer = start((value, ctx) -> insertEffect(effects, value, ctx));

    awaitTrue(
        WAIT,
        "every copy handled",
        () -> handled(consumer) >= 2 * EVENTS && consumer.snapshot().processed() >= EVENTS);
    assertEachEventAppliedOnce(EVENTS);
    assertThat(consumer.snapshot().processed()).isEqualTo(EVENTS);
  }

  @Test
  void twoConsumersOfTheSameNameOnTheSameEventsApplyEachOnce() throws Exception {
    EventHandler<String> handler =
        (value, ctx) -> {
          insertEffect(effects, value, ctx);
          Thread.sleep(1); // widen the window in which the copies overlap
        };
    IdemConsumer first = start(handler);
    IdemConsumer second = start(handler);
    awaitTrue(WAIT, "both joined", () -> joined(first) && joined(second));
    send(copiesOnBothPartitions());

    awaitTrue(
        WAIT,
        "every copy handled",
        () ->
            handled(first) + handled(second) >= 2 * EVENTS
                && first.snapshot().processed() + second.snapshot().processed() >= EVENTS);
    assertEachEventAppliedOnce(EVENTS);
    assertThat(first.snapshot().processed() + second.snapshot().processed()).isEqualTo(EVENTS);
    assertThat(handled(first)).as("the first consumer handled copies").isPositive();
    assertThat(handled(second)).as("the second consumer handled copies").isPositive();
  }

  @Test
  void aHandlerThatFailsOnItsFirstAttemptIsRetriedAndAppliedOnce() throws Exception {
    send(events(10));
    IdemConsumer consumer =
        start(
            (value, ctx) -> {
              insertEffect(effects, value, ctx); // rolled back with the failed attempt
              if (ctx.attempt() == 1) {
                throw new IllegalStateException("first attempt of " + ctx.eventId());
              }
            });

    awaitTrue(WAIT, "every event applied", () -> consumer.snapshot().processed() >= 10);
    assertEachEventAppliedOnce(10);
    assertThat(strings("SELECT DISTINCT attempt::text FROM " + effects)).containsExactly("2");
    assertThat(consumer.snapshot().failures()).isGreaterThanOrEqualTo(10);
    assertThat(deadLetters()).isZero();
  }

  @Test
  void aHandlerThatAlwaysFailsIsDeadLetteredAndTheOthersAreApplied() throws Exception {
    List<ProducerRecord<byte[], byte[]>> records = events(10);
    records.add(5, record(name, 0, "k", "poison", "p"));
    send(records);
    IdemConsumer consumer =
        start(
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (ctx.eventId().equals("poison")) {
                throw new IllegalStateException("cannot apply " + ctx.eventId());
              }
            });

    awaitTrue(
        WAIT,
        "the others applied and the poison dead-lettered",
        () -> consumer.snapshot().processed() >= 10 && consumer.snapshot().deadLettered() >= 1);
    assertEachEventAppliedOnce(10);
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'poison'")).isZero();
    assertThat(
            strings(
                "SELECT event_id || ' ' || reason || ' ' || attempts FROM idem.dead_letters"
                    + " WHERE consumer_name = ?",
                name))
        .containsExactly("poison handler-failed 3");
    assertThat(consumer.snapshot().deadLettered()).isEqualTo(1);
  }

  @Test
  void aRecordWithoutAnEventIdIsDeadLetteredAtOnce() throws Exception {
    send(List.of(record(name, 0, "k", null, "no id"), record(name, 0, "k", "e0", "v0")));
    AtomicInteger calls = new AtomicInteger();
    IdemConsumer consumer =
        start(
            (value, ctx) -> {
              calls.incrementAndGet();
              insertEffect(effects, value, ctx);
            });

    awaitTrue(
        WAIT,
        "the event applied and the record without an id dead-lettered",
        () -> consumer.snapshot().processed() >= 1 && consumer.snapshot().deadLettered() >= 1);
    assertEachEventAppliedOnce(1);
    assertThat(calls).as("the handler never saw the record without an id").hasValue(1);
    assertThat(
            strings(
                "SELECT reason || ' ' || attempts FROM idem.dead_letters"
                    + " WHERE consumer_name = ? AND event_id IS NULL",
                name))
        .containsExactly("invalid-event-id 1");
    assertThat(deadLetters()).isEqualTo(1);
  }

  @Test
  void aHandlerThatCatchesAnSqlErrorAndReturnsLosesNothing() throws Exception {
    send(events(2));
    AtomicInteger calls = new AtomicInteger();
    IdemConsumer consumer =
        start(
            (value, ctx) -> {
              insertEffect(effects, value, ctx);
              if (ctx.eventId().equals("e0") && calls.incrementAndGet() == 1) {
                swallowFailingStatement(ctx.connection());
              }
            });

    awaitTrue(WAIT, "both events applied", () -> consumer.snapshot().processed() >= 2);
    assertEachEventAppliedOnce(2);
    assertThat(strings("SELECT event_id || ':' || attempt FROM " + effects))
        .containsExactlyInAnyOrder("e0:2", "e1:1");
    assertThat(consumer.snapshot().failures()).isEqualTo(1);
    assertThat(deadLetters()).isZero();
  }

  @Test
  void healthIsReadyWhileRunningAndNotReadyAfterClose() {
    IdemConsumer consumer = start((value, ctx) -> {});

    awaitTrue(WAIT, "ready", () -> consumer.health().ready());
    assertThat(consumer.health().state()).isEqualTo(ConsumerState.RUNNING);
    assertThat(consumer.health().databaseReachable()).isTrue();
    consumer.close();
    assertThat(consumer.health().state()).isEqualTo(ConsumerState.CLOSED);
    assertThat(consumer.health().ready()).isFalse();
  }

  /** Starts a consumer of this kind named {@link #name}, with a pool of its own. */
  private IdemConsumer start(EventHandler<String> handler) {
    IdemConfig config =
        config(name, name).concurrency(2).retry(RETRY).kafka("max.poll.records", "5").build();
    DataSource pool = closer.add(pool(config.concurrency() + 2));
    IdemConsumer consumer = closer.add(builder(config, pool).handler(handler).build());
    consumer.start();
    return consumer;
  }

  /** Events {@code e0} to {@code e<n-1>}, on partition 0. */
  private List<ProducerRecord<byte[], byte[]>> events(int n) {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      records.add(record(name, 0, "k" + i, "e" + i, "v" + i));
    }
    return records;
  }

  /** {@link #EVENTS} events, each on partition 0 and a copy of it on partition 1. */
  private List<ProducerRecord<byte[], byte[]>> copiesOnBothPartitions() {
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < EVENTS; i++) {
      records.add(record(name, 0, "k" + i, "e" + i, "v" + i));
      records.add(record(name, 1, "k" + i, "e" + i, "v" + i));
    }
    return records;
  }

  /** Records the consumer finished by applying them or finding them applied. */
  private static long handled(IdemConsumer consumer) {
    ConsumerSnapshot s = consumer.snapshot();
    return s.processed() + s.duplicates();
  }

  /**
   * Asserts that the events {@code e0} to {@code e<n-1>} have one effect row and one processed mark
   * each, and that nothing else was applied.
   */
  private void assertEachEventAppliedOnce(int n) throws SQLException {
    Set<String> expected = new HashSet<>();
    for (int i = 0; i < n; i++) {
      expected.add("e" + i);
    }
    assertThat(count("SELECT count(*) FROM " + effects)).as("effect rows").isEqualTo(n);
    assertThat(strings("SELECT event_id FROM " + effects)).isEqualTo(expected);
    assertThat(strings("SELECT event_id FROM idem.processed_events WHERE consumer_name = ?", name))
        .isEqualTo(expected);
  }

  private long deadLetters() {
    return countQuietly("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name);
  }
}
