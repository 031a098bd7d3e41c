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
}
