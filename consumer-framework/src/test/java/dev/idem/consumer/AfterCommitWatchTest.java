package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The work a transaction hook does after the transaction committed (Spring's {@code afterCommit}
 * callbacks and after-commit event listeners) is watched like the handler: past lock-timeout +
 * handler-timeout + 1 s from the commit, its worker is reported stuck and replaced, and the
 * committed record counts as done so that its partition goes on.
 */
class AfterCommitWatchTest {
  private static final Duration LOCK_TIMEOUT = Duration.ofMillis(200);
  private static final Duration HANDLER_TIMEOUT = Duration.ofSeconds(1);

  @RegisterExtension final Closer closer = new Closer();

  /** Blocks after the commit of {@code blockedId}, ignoring interrupts, until {@link #release}. */
  private static final class BlockingAfterCommit implements TransactionHook {
    final String blockedId;
    final CountDownLatch release = new CountDownLatch(1);
    final CountDownLatch entered = new CountDownLatch(1);
    final ThreadLocal<String> current = new ThreadLocal<>();
    volatile String failId;

    BlockingAfterCommit(String blockedId) {
      this.blockedId = blockedId;
    }

    @Override
    public void beforeHandler(String consumerName, Connection connection) {}

    @Override
    public void afterHandler() {}

    @Override
    public void handlerFailed() {}

    @Override
    public void afterCompletion(boolean committed) {
      String id = current.get();
      current.remove();
      if (committed && blockedId.equals(id)) {
        entered.countDown();
        while (true) {
          try {
            release.await();
            return;
          } catch (InterruptedException e) {
            // On purpose: a call that ignores interrupts, such as a socket read without a timeout.
          }
        }
      }
      if (committed && id != null && id.equals(failId)) {
        throw new IllegalStateException("the after-commit callback of " + id + " fails");
      }
    }
  }

  @Test
  void anAfterCommitCallbackThatBlocksIsReportedStuckAndItsPartitionGoesOn() throws Exception {
    String name = TestInfrastructure.uniqueName("aftercommit");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    MeterRegistry meters = new SimpleMeterRegistry();
    BlockingAfterCommit hook = new BlockingAfterCommit("blocked");
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(
                    config(name, name)
                        .concurrency(1)
                        .lockTimeout(LOCK_TIMEOUT)
                        .handlerTimeout(HANDLER_TIMEOUT)
                        .retry(RetryPolicy.fixed(2, Duration.ofMillis(100)))
                        .build(),
                    Payloads.utf8(),
                    closer.add(pool(3)))
                .transactionHook(hook)
                .meterRegistry(meters)
                .handler(
                    (value, ctx) -> {
                      hook.current.set(ctx.eventId());
                      insertEffect(effects, value, ctx);
                    })
                .build());
    closer.add((AutoCloseable) hook.release::countDown);
    consumer.start();
    send(
        List.of(
            record(name, 0, "k-0", "blocked", "v0"),
            record(name, 0, "k-1", "ok-1", "v1"),
            record(name, 0, "k-2", "ok-2", "v2")));

    awaitTrue(
        Duration.ofSeconds(30),
        "the after-commit callback entered",
        () -> hook.entered.getCount() == 0);
    awaitTrue(
        Duration.ofSeconds(10),
        "the stuck worker reported",
        () -> consumer.health().stuckWorkers() == 1);
    // Concurrency 1: the records behind the blocked one run only once its worker is replaced.
    awaitTrue(
        Duration.ofSeconds(10),
        "the records after the blocked one applied and the offset committed past them",
        () -> committedOffset(name) == 3);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(3);
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'blocked'"))
        .isEqualTo(1);
    assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
        .isZero();
    assertThat(counter(meters, "idem.workers.abandoned", name)).isEqualTo(1.0);
    assertThat(counter(meters, "idem.records.failures", name)).isZero();

    hook.release.countDown();
    awaitTrue(
        Duration.ofSeconds(10),
        "the stuck worker returned",
        () -> consumer.health().stuckWorkers() == 0 && consumer.health().healthy());
  }

  @Test
  void anExceptionFromAnAfterCommitCallbackIsCounted() throws Exception {
    String name = TestInfrastructure.uniqueName("aftercommitfail");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    MeterRegistry meters = new SimpleMeterRegistry();
    BlockingAfterCommit hook = new BlockingAfterCommit("none");
    hook.failId = "fails";
    AtomicReference<String> last = new AtomicReference<>();
    IdempotentConsumer<String> consumer =
        closer.add(
            consumerBuilder(config(name, name).build(), Payloads.utf8(), closer.add(pool(3)))
                .transactionHook(hook)
                .meterRegistry(meters)
                .handler(
                    (value, ctx) -> {
                      hook.current.set(ctx.eventId());
                      insertEffect(effects, value, ctx);
                      last.set(ctx.eventId());
                    })
                .build());
    consumer.start();
    send(List.of(record(name, 0, "k", "fails", "v0"), record(name, 0, "k", "ok", "v1")));
    awaitTrue(Duration.ofSeconds(30), "both committed", () -> committedOffset(name) == 2);
    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(2);
    assertThat(counter(meters, "idem.hooks.after-commit.failures", name)).isEqualTo(1.0);
    assertThat(counter(meters, "idem.records.failures", name)).isZero();
  }

  private static long committedOffset(String group) {
    try {
      return committedOffsets(group).getOrDefault(new TopicPartition(group, 0), -1L);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static double counter(MeterRegistry meters, String meter, String name) {
    var c = meters.find(meter).tags("consumer", name, "topic", name).counter();
    return c == null ? 0 : c.count();
  }
}
