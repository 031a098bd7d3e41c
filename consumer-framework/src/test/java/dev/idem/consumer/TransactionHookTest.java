package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.INFRA;
import static dev.idem.consumer.IdemTestSupport.awaitTrue;
import static dev.idem.consumer.IdemTestSupport.config;
import static dev.idem.consumer.IdemTestSupport.consumerBuilder;
import static dev.idem.consumer.IdemTestSupport.count;
import static dev.idem.consumer.IdemTestSupport.createEffectsTable;
import static dev.idem.consumer.IdemTestSupport.insertEffect;
import static dev.idem.consumer.IdemTestSupport.pool;
import static dev.idem.consumer.IdemTestSupport.record;
import static dev.idem.consumer.IdemTestSupport.send;
import static dev.idem.consumer.IdemTestSupport.strings;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.idem.testkit.TestInfrastructure;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The {@link TransactionHook} contract, seen from a recording hook on the real servers: the order
 * of its calls per transaction, on the worker thread, for a processed record, a failed attempt, a
 * hook that fails the attempt, and a duplicate.
 */
class TransactionHookTest {

  /** Records each transaction's calls on its thread, filed under its event at the end. */
  static final class Recording implements TransactionHook {
    final Map<String, List<String>> calls = new ConcurrentHashMap<>();
    final ThreadLocal<String> current = new ThreadLocal<>();
    final ThreadLocal<List<String>> steps = ThreadLocal.withInitial(ArrayList::new);
    volatile String failAfterHandlerOf;

    @Override
    public void beforeHandler(String consumerName, Connection connection) throws Exception {
      // The hook gets the connection the handler will get: inside idem's transaction.
      assertThat(connection.getAutoCommit()).isFalse();
      steps.get().add("before");
    }

    @Override
    public void afterHandler() {
      steps.get().add("after");
      if (failAfterHandlerOf.equals(current.get())) {
        throw new IllegalStateException("the hook refuses " + failAfterHandlerOf);
      }
    }

    @Override
    public void handlerFailed() {
      steps.get().add("failed");
    }

    @Override
    public void afterCompletion(boolean committed) {
      List<String> done = steps.get();
      done.add(committed ? "committed" : "rolled back");
      String id = current.get() == null ? "none" : current.get();
      calls.computeIfAbsent(id, k -> new CopyOnWriteArrayList<>()).addAll(done);
      steps.remove();
      current.remove();
    }
  }

  @Test
  void theHookSeesEachHandlerCallAndHowItsTransactionEnded() throws Exception {
    String name = TestInfrastructure.uniqueName("hook");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    Recording hook = new Recording();
    hook.failAfterHandlerOf = "vetoed";
    try (HikariDataSource pool = pool(4);
        IdempotentConsumer<String> consumer =
            consumerBuilder(
                    config(name, name).retry(RetryPolicy.fixed(2, Duration.ofMillis(20))).build(),
                    Payloads.utf8(),
                    pool)
                .transactionHook(hook)
                .handler(
                    (value, ctx) -> {
                      hook.current.set(ctx.eventId());
                      insertEffect(effects, value, ctx);
                      if (value.equals("throw")) {
                        throw new NonRetryableException("the handler fails");
                      }
                    })
                .build()) {
      consumer.start();
      send(
          List.of(
              record(name, 0, "k", "ok", "ok"),
              record(name, 0, "k", "thrown", "throw"),
              record(name, 0, "k", "vetoed", "ok"),
              record(name, 0, "k", "ok", "ok"),
              record(name, 0, "k", "last", "ok")));
      awaitTrue(
          Duration.ofSeconds(30),
          "the last record processed",
          () -> hook.calls.getOrDefault("last", List.of()).contains("committed"));
    }
    assertThat(hook.calls.get("ok")).containsExactly("before", "after", "committed");
    assertThat(hook.calls.get("thrown")).containsExactly("before", "failed", "rolled back");
    // The hook's refusal fails the attempt like a handler failure: twice (retried), then given up.
    assertThat(hook.calls.get("vetoed"))
        .containsExactly(
            "before", "after", "failed", "rolled back", "before", "after", "failed", "rolled back");
    // The duplicate of "ok" called no handler: the hook hears only of its transaction's end.
    assertThat(hook.calls.get("none")).contains("committed");
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'vetoed'")).isZero();
    assertThat(count("SELECT count(*) FROM " + effects + " WHERE event_id = 'ok'")).isEqualTo(1);
  }

  /**
   * A hook whose {@code afterHandler} runs a failing statement on the transaction's connection and
   * swallows the error, as a before-commit listener that catches its SQLException does: the handler
   * passed the state check, and the hook then left the transaction aborted.
   */
  @Test
  void aHookThatAbortsTheTransactionAfterTheHandlerFailsTheAttemptAndLosesNoEvent()
      throws Exception {
    String name = TestInfrastructure.uniqueName("hook-abort");
    INFRA.createTopics(1, name);
    String effects = name + "_effects";
    createEffectsTable(effects);
    Map<String, List<String>> calls = new ConcurrentHashMap<>();
    ThreadLocal<String> current = new ThreadLocal<>();
    ThreadLocal<Connection> hookConnection = new ThreadLocal<>();
    TransactionHook hook =
        new TransactionHook() {
          @Override
          public void beforeHandler(String consumerName, Connection connection) {
            hookConnection.set(connection);
          }

          @Override
          public void afterHandler() {
            calls.computeIfAbsent(current.get(), k -> new CopyOnWriteArrayList<>()).add("after");
            // Once for "once", on every attempt for "always".
            List<String> seen = calls.get(current.get());
            if (current.get().equals("always")
                || (current.get().equals("once") && seen.size() == 1)) {
              IdemTestSupport.swallowFailingStatement(hookConnection.get());
            }
          }

          @Override
          public void handlerFailed() {
            calls.get(current.get()).add("failed");
          }

          @Override
          public void afterCompletion(boolean committed) {
            hookConnection.remove();
          }
        };
    try (HikariDataSource pool = pool(4);
        IdempotentConsumer<String> consumer =
            consumerBuilder(
                    config(name, name).retry(RetryPolicy.fixed(3, Duration.ofMillis(20))).build(),
                    Payloads.utf8(),
                    pool)
                .transactionHook(hook)
                .handler(
                    (value, ctx) -> {
                      current.set(ctx.eventId());
                      insertEffect(effects, value, ctx);
                    })
                .build()) {
      consumer.start();
      send(
          List.of(
              record(name, 0, "k", "once", "v"),
              record(name, 0, "k", "always", "v"),
              record(name, 0, "k", "last", "v")));
      TopicPartition tp = new TopicPartition(name, 0);
      awaitTrue(
          Duration.ofSeconds(60),
          "committed past all three",
          () -> Long.valueOf(3).equals(consumer.snapshot().committed().get(tp)));

      assertThat(strings("SELECT event_id || ':' || attempt FROM " + effects))
          .containsExactlyInAnyOrder("once:2", "last:1");
      assertThat(
              strings(
                  "SELECT event_id || ':' || attempts || ':' || exception_class FROM"
                      + " idem.dead_letters WHERE consumer_name = ?",
                  name))
          .containsExactly("always:3:" + TransactionMisuseException.class.getName());
      assertThat(consumer.snapshot().processed()).isEqualTo(2);
      assertThat(consumer.snapshot().failures()).isEqualTo(4);
      assertThat(consumer.snapshot().deadLettered()).isEqualTo(1);
    }
    // The hook hears that the aborted attempt's work is rolled back.
    assertThat(calls.get("once")).containsExactly("after", "failed", "after");
  }
}
