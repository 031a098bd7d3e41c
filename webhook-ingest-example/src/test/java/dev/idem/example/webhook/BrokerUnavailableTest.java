package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.EmbeddedKafkaBroker;
import dev.idem.testkit.TestInfrastructure;
import java.net.http.HttpResponse;
import java.time.Clock;
import org.junit.jupiter.api.Test;

/** Stops a broker of its own, so it never disturbs the shared one. */
class BrokerUnavailableTest {

  @Test
  void webhooksGet503WithRetryAfterWhileKafkaIsDownAnd202Again() throws Exception {
    ExampleConfig config = config(TestInfrastructure.uniqueName("down"));
    try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.launch();
        WebhookApplication app =
            WebhookApplication.start(
                config, idem(config, broker.bootstrapServers()), Clock.systemUTC())) {
      byte[] body = new PaymentEvent("payment.succeeded", "acct_down", 10, "EUR").toJson();
      assertThat(post(app.port(), "/webhooks", signed(config, "d-1", body), body).statusCode())
          .isEqualTo(202);

      broker.stop();
      long start = System.nanoTime();
      HttpResponse<String> down = post(app.port(), "/webhooks", signed(config, "d-2", body), body);
      long seconds = (System.nanoTime() - start) / 1_000_000_000L;
      assertThat(down.statusCode()).isEqualTo(503);
      assertThat(down.headers().firstValue("Retry-After")).contains("5");
      assertThat(seconds).as("answered before a provider's 15-30 s timeout").isLessThan(15);

      broker.start();
      HttpResponse<String> back = post(app.port(), "/webhooks", signed(config, "d-2", body), body);
      assertThat(back.statusCode()).isEqualTo(202);
    }
  }
}
