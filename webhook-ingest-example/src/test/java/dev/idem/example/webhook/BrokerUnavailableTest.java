package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.TestInfrastructure;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Stops a broker of its own, so it never disturbs the shared one. The consumer started on it shows
 * what the probes say through a broker outage.
 */
class BrokerUnavailableTest {

  @Test
  void whileKafkaIsDownWebhooksGet503AndHealthAnswersAtOnceThenBothRecover() throws Exception {
    ExampleConfig config = config(TestInfrastructure.uniqueName("down"));
    try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.launch();
        WebhookApplication app =
            WebhookApplication.start(
                config, idem(config, broker.bootstrapServers()), Clock.systemUTC())) {
      byte[] body = new PaymentEvent("payment.succeeded", "acct_down", 10, "EUR").toJson();
      assertThat(post(app.port(), "/webhooks", signed(config, "d-1", body), body).statusCode())
          .isEqualTo(202);
      assertThat(health(app.port()).body()).contains("\"kafka\":\"UP\"");
      app.startConsumer();
      await("ready")
          .atMost(Duration.ofSeconds(30))
          .until(() -> get(app.port(), "/health/ready").statusCode() == 200);

      broker.stop();
      long start = System.nanoTime();
      HttpResponse<String> down = post(app.port(), "/webhooks", signed(config, "d-2", body), body);
      long seconds = (System.nanoTime() - start) / 1_000_000_000L;
      assertThat(down.statusCode()).isEqualTo(503);
      assertThat(down.headers().firstValue("Retry-After")).contains("5");
      assertThat(seconds).as("answered before a provider's 15-30 s timeout").isLessThan(15);

      await("health reports Kafka down")
          .atMost(Duration.ofSeconds(30))
          .until(() -> health(app.port()).body().contains("\"kafka\":\"DOWN\""));
      // Load balancers and orchestrators probe /health often and with short timeouts: it reads
      // what the application already knows instead of asking the broker on every request.
      for (int i = 0; i < 3; i++) {
        long asked = System.nanoTime();
        HttpResponse<String> health = health(app.port());
        long millis = (System.nanoTime() - asked) / 1_000_000;
        assertThat(health.statusCode()).isEqualTo(503);
        assertThat(millis).as("milliseconds to answer /health").isLessThan(1000);
      }
      // The consumer lost the broker too: not ready, but live (a restart would not bring it back).
      await("not ready")
          .atMost(Duration.ofSeconds(30))
          .until(() -> get(app.port(), "/health/ready").statusCode() == 503);
      assertThat(get(app.port(), "/health/ready").body()).contains("\"brokerReachable\":false");
      assertThat(get(app.port(), "/health/live").statusCode()).isEqualTo(200);

      broker.start();
      HttpResponse<String> back = post(app.port(), "/webhooks", signed(config, "d-2", body), body);
      assertThat(back.statusCode()).isEqualTo(202);
      await("health reports Kafka up again")
          .atMost(Duration.ofSeconds(30))
          .until(() -> health(app.port()).body().contains("\"kafka\":\"UP\""));
      await("ready again")
          .atMost(Duration.ofSeconds(60))
          .until(() -> get(app.port(), "/health/ready").statusCode() == 200);
    }
  }

  private static HttpResponse<String> health(int port) throws Exception {
    return get(port, "/health");
  }

  private static HttpResponse<String> get(int port, String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(30))
            .GET()
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
