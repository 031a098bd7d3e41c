package dev.idem.example.webhook;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.idem.consumer.ConsumerHealth;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The answers of {@code GET /health}, {@code /health/ready} and {@code /health/live}: 200 or 503
 * and a small JSON body. They read what the application already knows (the Kafka probe's last
 * answer, the consumers' {@link ConsumerHealth}), so a probe polled every few seconds with a short
 * timeout costs no I/O and cannot hang on an unreachable server.
 *
 * <ul>
 *   <li>{@code /health/ready}, for readiness probes and compose's {@code service_healthy}: 200 when
 *       this process runs at least one consumer and every one is {@linkplain ConsumerHealth#ready()
 *       ready} (running, database and broker reachable, poll loop not stalled, no more stuck
 *       workers than may be abandoned). An outage makes it 503 until the servers are back.
 *   <li>{@code /health/live}, for liveness probes: 200 unless a consumer's poll loop is dead
 *       ({@code FAILED}, or stalled while running); a restart helps only then. A process with no
 *       consumer (yet) is live.
 *   <li>{@code /health}: the overview it always was; 200 when Kafka answers the producer-side
 *       probe, the database answers and every consumer is {@linkplain ConsumerHealth#healthy()
 *       healthy}.
 * </ul>
 */
final class HealthEndpoints {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One answer: its status code and JSON body. */
  record Answer(int status, String json) {}

  private final BooleanSupplier kafkaUp;
  private final Supplier<List<ConsumerHealth>> consumers;

  /**
   * @param kafkaUp whether the broker was reachable when last checked, answered at once
   * @param consumers the health views of this process's consumers, answered at once
   */
  HealthEndpoints(BooleanSupplier kafkaUp, Supplier<List<ConsumerHealth>> consumers) {
    this.kafkaUp = kafkaUp;
    this.consumers = consumers;
  }

  /** {@code GET /health}. */
  Answer overview() {
    ObjectNode root = JSON.createObjectNode();
    boolean kafka = kafkaUp.getAsBoolean();
    List<ConsumerHealth> views = consumers.get();
    boolean database = views.stream().anyMatch(ConsumerHealth::databaseReachable);
    boolean consumersOk = !views.isEmpty() && views.stream().allMatch(ConsumerHealth::healthy);
    boolean up = kafka && database && consumersOk;
    root.put("status", up ? "UP" : "DOWN");
    root.put("kafka", kafka ? "UP" : "DOWN");
    root.put("database", database ? "UP" : "DOWN");
    ArrayNode list = root.putArray("consumers");
    for (ConsumerHealth h : views) {
      ObjectNode c = list.addObject();
      c.put("name", h.consumer());
      c.put("state", h.state().name());
      c.put("healthy", h.healthy());
      c.put("databaseReachable", h.databaseReachable());
      c.put("inFlight", h.inFlight());
      c.put("lastCommit", h.lastCommit() == null ? null : h.lastCommit().toString());
      ArrayNode parts = c.putArray("assigned");
      h.assigned().stream().map(Object::toString).sorted().forEach(parts::add);
    }
    return answer(root, up);
  }

  /** {@code GET /health/ready}. */
  Answer ready() {
    List<ConsumerHealth> views = consumers.get();
    // No consumer means this process does not do its job yet: not ready, as /health says DOWN.
    boolean up = !views.isEmpty() && views.stream().allMatch(ConsumerHealth::ready);
    ObjectNode root = JSON.createObjectNode();
    root.put("status", up ? "UP" : "DOWN");
    ArrayNode list = root.putArray("consumers");
    for (ConsumerHealth h : views) {
      ObjectNode c = list.addObject();
      c.put("name", h.consumer());
      c.put("state", h.state().name());
      c.put("ready", h.ready());
      c.put("databaseReachable", h.databaseReachable());
      c.put("brokerReachable", h.brokerReachable());
      c.put("pollStalled", h.pollStalled());
      c.put("stuckWorkers", h.stuckWorkers());
      c.put("maxAbandonedWorkers", h.maxAbandonedWorkers());
    }
    return answer(root, up);
  }

  /** {@code GET /health/live}. */
  Answer live() {
    List<ConsumerHealth> views = consumers.get();
    boolean up = views.stream().allMatch(ConsumerHealth::live);
    ObjectNode root = JSON.createObjectNode();
    root.put("status", up ? "UP" : "DOWN");
    ArrayNode list = root.putArray("consumers");
    for (ConsumerHealth h : views) {
      ObjectNode c = list.addObject();
      c.put("name", h.consumer());
      c.put("state", h.state().name());
      c.put("live", h.live());
      c.put("lastPoll", h.lastPoll() == null ? null : h.lastPoll().toString());
      c.put("sinceLastPollMillis", h.sinceLastPoll().toMillis());
      c.put("pollStallTimeoutMillis", h.pollStallTimeout().toMillis());
    }
    return answer(root, up);
  }

  private static Answer answer(ObjectNode root, boolean up) {
    return new Answer(up ? 200 : 503, root + "\n");
  }
}
