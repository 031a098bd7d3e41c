package dev.idem.example.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.idem.consumer.IdemConfigException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What serve mode refuses before it listens on every interface. */
class ServeModeTest {
  private static final Path SHIPPED = Path.of("..", "config", "webhook-example.properties");
  private static final String DEMO_KEY = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  private static void refusedAsDemoSecret(Map<String, String> env, String secretNumber) {
    ExampleConfig config = ExampleConfig.load(SHIPPED, env);
    assertThatThrownBy(() -> Main.serveConfig(config, env))
        .isInstanceOf(IdemConfigException.class)
        .satisfies(e -> assertThat(((IdemConfigException) e).key()).isEqualTo("webhook.secrets"))
        .hasMessageContaining(secretNumber + " is the published demo secret")
        .hasMessageContaining("generate a secret")
        .hasMessageContaining("WEBHOOK_ALLOW_DEMO_SECRET=true")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain(DEMO_KEY));
  }

  @Test
  void serveModeRefusesTheDemoSecretOfTheShippedFile() {
    refusedAsDemoSecret(Map.of(), "secret #1");
  }

  @Test
  void serveModeRefusesTheDemoSecretAmongOthersAndWithoutItsPrefix() {
    refusedAsDemoSecret(Map.of("WEBHOOK_SECRETS", "whsec_c2VjcmV0LTE=, " + DEMO_KEY), "secret #2");
  }

  @Test
  void serveModeAcceptsTheDemoSecretForALocalTrialWhenAllowed() {
    Map<String, String> env = Map.of("WEBHOOK_ALLOW_DEMO_SECRET", "true");
    ExampleConfig config = ExampleConfig.load(SHIPPED, env);
    assertThat(Main.serveConfig(config, env).consumerName()).isEqualTo("ledger");
  }

  @Test
  void serveModeAcceptsAGeneratedSecret() {
    Map<String, String> env = Map.of("WEBHOOK_SECRETS", "whsec_c2VjcmV0LTE=");
    ExampleConfig config = ExampleConfig.load(SHIPPED, env);
    assertThat(Main.serveConfig(config, env).consumerName()).isEqualTo("ledger");
  }

  @Test
  void serveModeIsAStaticMemberNamedAfterTheHostAndTheConsumer() {
    // A restarted instance then gets its partitions back at once, not after the dead one's session.
    Map<String, String> env = Map.of("WEBHOOK_ALLOW_DEMO_SECRET", "true", "HOSTNAME", "app-7f3c");
    ExampleConfig config = ExampleConfig.load(SHIPPED, env);
    assertThat(Main.serveConfig(config, env).kafka())
        .containsEntry("group.instance.id", "app-7f3c-ledger");
  }

  @Test
  void serveModesInstanceIdCanBeGivenOrTurnedOff() {
    Map<String, String> given =
        Map.of("WEBHOOK_ALLOW_DEMO_SECRET", "true", "HOSTNAME", "h", "INSTANCE_ID", "ledger-eu-2");
    assertThat(Main.serveConfig(ExampleConfig.load(SHIPPED, given), given).kafka())
        .containsEntry("group.instance.id", "ledger-eu-2");
    Map<String, String> off =
        Map.of("WEBHOOK_ALLOW_DEMO_SECRET", "true", "HOSTNAME", "h", "INSTANCE_ID", "off");
    assertThat(Main.serveConfig(ExampleConfig.load(SHIPPED, off), off).kafka())
        .doesNotContainKey("group.instance.id");
  }

  @Test
  void aHostNameKafkaWouldRefuseBecomesAUsableId() {
    Map<String, String> env =
        Map.of(
            "WEBHOOK_ALLOW_DEMO_SECRET", "true", "HOSTNAME", "büro 7", "IDEM_CONSUMER_NAME", "l/1");
    ExampleConfig config = ExampleConfig.load(SHIPPED, env);
    assertThat(Main.serveConfig(config, env).kafka())
        .containsEntry("group.instance.id", "b_ro_7-l_1");
  }

  @Test
  void theDemoSecretSwitchTakesOnlyTrueOrFalse() {
    assertThatThrownBy(
            () -> ExampleConfig.load(SHIPPED, Map.of("WEBHOOK_ALLOW_DEMO_SECRET", "yes")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessage("webhook.allow-demo-secret: 'yes' is not true or false; use true or false");
  }
}
