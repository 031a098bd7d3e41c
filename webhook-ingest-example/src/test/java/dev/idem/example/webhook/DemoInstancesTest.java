package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.IdempotentConsumer;
import dev.idem.testkit.TestInfrastructure;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.junit.jupiter.api.Test;

/** The demo's consumer instances share one JVM and one host: their instance ids must differ. */
class DemoInstancesTest {

  @Test
  void twoInstancesInOneJvmAreStaticMembersWithIdsOfTheirOwnAndBothConsume() throws Exception {
    ExampleConfig shipped = config(TestInfrastructure.uniqueName("members"));
    ExampleConfig config =
        new ExampleConfig(
            shipped.httpPort(),
            shipped.secrets(),
            shipped.allowDemoSecret(),
            shipped.maxBodyBytes(),
            shipped.tolerance(),
            shipped.primaryTopic(),
            shipped.replayTopic(),
            shipped.partitions(),
            shipped.demoEvents(),
            shipped.demoAccounts(),
            shipped.demoSeed(),
            "web",
            shipped.idem());
    String bootstrap = INFRA.kafka().bootstrapServers();
    try (WebhookApplication app =
        WebhookApplication.start(
            config,
            idem(config, bootstrap),
            config.demoInstances(
                Map.of(),
                bootstrap,
                INFRA.postgres().jdbcUrl(),
                INFRA.postgres().user(),
                INFRA.postgres().password()),
            Clock.systemUTC())) {
      IdempotentConsumer<PaymentEvent> first = app.startConsumer();
      IdempotentConsumer<PaymentEvent> second = app.startConsumer();
      await("both own partitions")
          .atMost(Duration.ofSeconds(60))
          .until(
              () ->
                  !first.snapshot().assigned().isEmpty()
                      && !second.snapshot().assigned().isEmpty());
      String group = app.idem().kafka().get("group.id").toString();
      ConsumerGroupDescription described =
          app.admin()
              .describeConsumerGroups(List.of(group))
              .describedGroups()
              .get(group)
              .get(30, TimeUnit.SECONDS);
      assertThat(described.members())
          .extracting(MemberDescription::groupInstanceId)
          .containsExactlyInAnyOrder(Optional.of("web-1"), Optional.of("web-2"));

      for (String id : List.of("web-a", "web-b", "web-c", "web-d")) {
        byte[] body =
            new PaymentEvent("payment.succeeded", "acct_" + id + group, 5, "EUR").toJson();
        assertThat(
                post(app.port(), "/webhooks", signed(config, id + group, body), body).statusCode())
            .isEqualTo(202);
      }
      await("every webhook applied")
          .atMost(Duration.ofSeconds(60))
          .until(
              () ->
                  count(
                          "SELECT count(*) FROM ledger.entries WHERE event_id LIKE 'web-_"
                              + group
                              + "'")
                      == 4);
    }
  }
}
