package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.ConsumerState;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The status codes of {@code /health/ready} and {@code /health/live} for each kind of consumer
 * health, on a real server whose consumers' health views the test sets. Real consumers going
 * through an outage are in {@link BrokerUnavailableTest} and the framework's tests.
 */
class HealthProbesHttpTest {
  private static final AtomicReference<List<ConsumerHealth>> views =
      new AtomicReference<>(List.of());
  private static KafkaPublisher publisher;
  private static IngestServer server;

  @BeforeAll
  static void startServer() throws Exception {
    ExampleConfig config = config(TestInfrastructure.uniqueName("probes"));
    publisher = new KafkaPublisher(INFRA.kafka().bootstrapServers(), config.maxRecordBytes());
    server =
        new IngestServer(
            config,
            config.verifier(Clock.systemUTC()),
            publisher,
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            ObservationRegistry.NOOP,
            () -> true,
            views::get);
    server.start();
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server != null) {
      server.close();
    }
    if (publisher != null) {
      publisher.close();
    }
  }

  @Test
  void everyConsumerReadyAndLiveGives200OnBothProbes() throws Exception {
    views.set(
        List.of(
            health("a", ConsumerState.RUNNING, true), health("b", ConsumerState.RUNNING, true)));

    assertThat(get("/health/ready").statusCode()).isEqualTo(200);
    assertThat(get("/health/live").statusCode()).isEqualTo(200);
  }

  @Test
  void aConsumerThatCannotReachTheDatabaseIsNotReadyButLive() throws Exception {
    views.set(
        List.of(
            health("a", ConsumerState.RUNNING, true), health("b", ConsumerState.RUNNING, false)));

    HttpResponse<String> ready = get("/health/ready");
    assertThat(ready.statusCode()).isEqualTo(503);
    assertThat(ready.body())
        .contains("\"status\":\"DOWN\"")
        .contains(
            "\"name\":\"b\",\"state\":\"RUNNING\",\"ready\":false,\"databaseReachable\":false");
    HttpResponse<String> live = get("/health/live");
    assertThat(live.statusCode()).isEqualTo(200);
    assertThat(live.body()).contains("\"status\":\"UP\"").contains("\"live\":true");
  }

  @Test
  void aFailedConsumerIsNeitherReadyNorLive() throws Exception {
    views.set(
        List.of(health("a", ConsumerState.RUNNING, true), health("b", ConsumerState.FAILED, true)));

    assertThat(get("/health/ready").statusCode()).isEqualTo(503);
    HttpResponse<String> live = get("/health/live");
    assertThat(live.statusCode()).isEqualTo(503);
    assertThat(live.body())
        .contains("\"status\":\"DOWN\"")
        .contains("\"name\":\"b\",\"state\":\"FAILED\",\"live\":false");
  }

  @Test
  void aClosedConsumerOrNoConsumerIsNotReadyButLive() throws Exception {
    views.set(List.of(health("a", ConsumerState.CLOSED, true)));
    assertThat(get("/health/ready").statusCode()).isEqualTo(503);
    assertThat(get("/health/live").statusCode()).isEqualTo(200);

    views.set(List.of());
    assertThat(get("/health/ready").statusCode()).isEqualTo(503);
    assertThat(get("/health/live").statusCode()).isEqualTo(200);
    assertThat(get("/health").statusCode()).as("/health as before").isEqualTo(503);
  }

  @Test
  void theComposeHealthcheckPassesWhenReadyAndFailsWhenNot() throws Exception {
    // The compose file cannot be started here; run its healthcheck script against this server.
    String script =
        ComposeFileTest.healthcheckScript(ComposeFileTest.services())
            .replace("/dev/tcp/127.0.0.1/8080 ", "/dev/tcp/127.0.0.1/" + server.port() + " ");

    views.set(List.of(health("a", ConsumerState.RUNNING, true)));
    assertThat(run(script)).as("exit code while ready").isZero();
    views.set(List.of(health("a", ConsumerState.RUNNING, false)));
    assertThat(run(script)).as("exit code while not ready").isNotZero();
  }

  private static int run(String script) throws Exception {
    Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
    if (!p.waitFor(10, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("the healthcheck script did not end within 10 s");
    }
    return p.exitValue();
  }

  private static ConsumerHealth health(String name, ConsumerState state, boolean database) {
    return ConsumerHealth.builder(name, state)
        .databaseReachable(database)
        .maxAbandonedWorkers(1)
        .brokerReachable(true)
        .lastPoll(Instant.now())
        .sinceLastPoll(Duration.ofMillis(50))
        .pollStallTimeout(Duration.ofSeconds(41))
        .build();
  }

  private static HttpResponse<String> get(String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
            .timeout(Duration.ofSeconds(10))
            .GET()
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
