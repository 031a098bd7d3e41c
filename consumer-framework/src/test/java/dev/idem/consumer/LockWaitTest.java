package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.SoftAssertions.assertSoftly;

import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A copy of an event waits for the transaction that holds the event's lock: while that holder is
 * within its own bound, the copy's lock timeouts use up none of its attempts.
 */
class LockWaitTest {
  private static final int GROUP = 8;
  private static final Duration LOCK_TIMEOUT = Duration.ofSeconds(1);

  @RegisterExtension final Closer closer = new Closer();

  private final MeterRegistry meters = new SimpleMeterRegistry();

  /**
   * Partition 0: a group of eight records, event E among them; E's first run is slow (four lock
   * timeouts) and then fails. Partition 1: a copy of E, sent once the group holds E's lock. With
   * three attempts of one second's wait each, the copy would have dead-lettered E before the
   * group's E could retry, and E's retry would then have found the copy's dead letter.
   */
  @Test
  void aCopyWaitingForASlowGroupUsesNoAttemptAndTheEventIsAppliedOnce() throws Exception {
    String name = TestInfrastructure.uniqueName("lock-wait");
    INFRA.createTopics(2, name);
    createEffectsTable(name);
    CountDownLatch slowRunStarted = new CountDownLatch(1);
    EventHandler<String> handler =
        (event, ctx) -> {
          if (ctx.eventId().equals("E") && ctx.partition() == 0 && ctx.attempt() == 1) {
            slowRunStarted.countDown();
            Thread.sleep(LOCK_TIMEOUT.multipliedBy(4).toMillis());
            insertEffect(name, event, ctx);
            throw new IllegalStateException("E's first run fails");
          }
          insertEffect(name, event, ctx);
        };
    IdemConfig config =
        config(name, name)
            .transactionMaxRecords(GROUP)
            .concurrency(2)
            .lockTimeout(LOCK_TIMEOUT)
            .handlerTimeout(Duration.ofSeconds(10))
            .retry(RetryPolicy.fixed(3, Duration.ofMillis(50)))
            .build();
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config, Payloads.utf8(), closer.add(pool(5)))
                .handler(handler)
                .meterRegistry(meters)
                .build());
    List<ProducerRecord<byte[], byte[]>> group = new ArrayList<>();
    for (int i = 0; i < GROUP; i++) {
      String id = i == 3 ? "E" : "g" + i;
      group.add(record(name, 0, "k" + i, id, id + "@0"));
    }
    send(group);
    consumer.start();
    if (!slowRunStarted.await(60, TimeUnit.SECONDS)) {
      throw new AssertionError("E's slow run in the group never started");
    }
    send(List.of(record(name, 1, "copy", "E", "E@1")));

    awaitTrue(
        Duration.ofSeconds(60),
        "offsets committed past every record",
        () -> {
          try {
            var offsets = committedOffsets(name);
            return Long.valueOf(GROUP).equals(offsets.get(new TopicPartition(name, 0)))
                && Long.valueOf(1).equals(offsets.get(new TopicPartition(name, 1)));
          } catch (Exception e) {
            return false;
          }
        });

    long appliedE = count("SELECT count(*) FROM " + name + " WHERE event_id = 'E'");
    long others = count("SELECT count(*) FROM " + name + " WHERE event_id <> 'E'");
    long deadLetters =
        count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name);
    String reasons =
        String.join(
            "; ",
            strings(
                "SELECT coalesce(reason, '') || ' ' || coalesce(exception_message, '') || ' (attempts '"
                    + " || attempts || ')' FROM idem.dead_letters WHERE consumer_name = ?",
                name));
    double waits = lockWaits(name);
    assertSoftly(
        soft -> {
          soft.assertThat(appliedE).as("E applied once").isEqualTo(1);
          soft.assertThat(others).as("the group's other records applied once").isEqualTo(GROUP - 1);
          soft.assertThat(deadLetters).as("dead letters: %s", reasons).isZero();
          soft.assertThat(waits)
              .as("idem.records.lock.waits: the copy's lock timeouts while the group held E")
              .isGreaterThanOrEqualTo(1);
        });
  }

  private double lockWaits(String name) {
    var counter =
        meters.find("idem.records.lock.waits").tags("consumer", name, "topic", name).counter();
    return counter == null ? 0 : counter.count();
  }
}
