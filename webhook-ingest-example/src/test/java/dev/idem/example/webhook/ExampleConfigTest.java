package dev.idem.example.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.idem.consumer.IdemConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExampleConfigTest {
  private static final Path SHIPPED = Path.of("..", "config", "webhook-example.properties");

  @Test
  void theShippedFileLoadsWithEnvironmentOverrides() {
    ExampleConfig c =
        ExampleConfig.load(
            SHIPPED,
            Map.of(
                "HTTP_PORT",
                "9999",
                "WEBHOOK_SECRETS",
                "whsec_AAAA, whsec_BBBB",
                "DEMO_EVENTS",
                "50"));
    assertThat(c.httpPort()).isEqualTo(9999);
    assertThat(c.secrets()).containsExactly("whsec_AAAA", "whsec_BBBB");
    assertThat(c.demoEvents()).isEqualTo(50);
    assertThat(c.maxBodyBytes()).isEqualTo(1024 * 1024);
    assertThat(c.maxRecordBytes()).isEqualTo(1024 * 1024 + 64 * 1024);
    assertThat(c.idem()).containsEntry("consumer.topics", "webhooks,webhooks-replay");
    assertThat(c.withoutSecrets()).doesNotContain("whsec_");
  }

  @Test
  void badValuesNameTheirKey() {
    assertThatThrownBy(() -> ExampleConfig.load(SHIPPED, Map.of("HTTP_PORT", "eighty")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessage("http.port: 'eighty' is not a whole number; use 0 to 65535");
    assertThatThrownBy(() -> ExampleConfig.load(SHIPPED, Map.of("WEBHOOK_SECRETS", "whsec_!!")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageContaining("webhook.secrets")
        .hasMessageContaining("secret #1");
    assertThatThrownBy(() -> ExampleConfig.load(SHIPPED, Map.of("WEBHOOK_MAX_BODY_BYTES", "0")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("webhook.max-body-bytes:");
  }

  @Test
  void aSeedThatIsNotANumberNamesItsKey() {
    // Was a bare NumberFormatException.
    assertThatThrownBy(() -> ExampleConfig.load(SHIPPED, Map.of("DEMO_SEED", "twelve")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessage("demo.seed: 'twelve' is not a whole number; use any 64-bit integer");
  }

  @Test
  void topicNamesAreCheckedUnderTheExamplesOwnKeys(@TempDir Path dir) throws Exception {
    // A blank name used to be published to as "" while the consumer read only the other topic; a
    // comma made the consumer read three topics.
    for (String bad : new String[] {"", "a,b", "bad topic", ".."}) {
      Path file = dir.resolve("t.properties");
      Files.writeString(file, Files.readString(SHIPPED) + "\ntopics.primary=" + bad + "\n");
      assertThatThrownBy(() -> ExampleConfig.load(file, Map.of()))
          .as(bad)
          .isInstanceOf(IdemConfigException.class)
          .hasMessageStartingWith("topics.primary:")
          .hasMessageContaining("is not a Kafka topic name");
    }
  }

  @Test
  void anUnreadableSecretIsNamedOnceWithTheFix() {
    assertThatThrownBy(() -> ExampleConfig.load(SHIPPED, Map.of("WEBHOOK_SECRETS", "-1")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessage(
            "webhook.secrets: secret #1 is not whsec_ followed by base64; write each secret as"
                + " whsec_ and the key in base64");
  }

  @Test
  void theDemosInstancesGetAnIdEachFromAGivenInstanceIdAndNoneFromAuto() {
    ExampleConfig given = ExampleConfig.load(SHIPPED, Map.of("INSTANCE_ID", "web"));
    assertThat(given.demoInstanceId(1)).isEqualTo("web-1");
    assertThat(given.demoInstanceId(3)).isEqualTo("web-3");
    // The demo's third instance leaves mid-storm; as a static member it would hold its partitions
    // for a session timeout, so auto means dynamic membership there.
    assertThat(ExampleConfig.load(SHIPPED, Map.of()).demoInstanceId(1)).isNull();
    assertThat(ExampleConfig.load(SHIPPED, Map.of("INSTANCE_ID", "off")).demoInstanceId(1))
        .isNull();
  }

  @Test
  void anInstanceIdKafkaWouldRefuseIsRefusedByName() {
    assertThatThrownBy(() -> ExampleConfig.load(SHIPPED, Map.of("INSTANCE_ID", "web 1")))
        .isInstanceOf(IdemConfigException.class)
        .hasMessage(
            "instance.id: 'web 1' is not usable; use auto, off, or an id of 1 to 240 of a-z A-Z"
                + " 0-9 . _ - (not . or ..)");
  }

  @Test
  void aGroupInstanceIdSetDirectlyIsRefusedInFavourOfInstanceId(@TempDir Path dir)
      throws Exception {
    // The demo's instances in one JVM would share it, and the guard would refuse all but one.
    Path file = dir.resolve("g.properties");
    Files.writeString(file, Files.readString(SHIPPED) + "\nkafka.group.instance.id=web-1\n");
    assertThatThrownBy(
            () -> ExampleConfig.load(file, Map.of()).idemConfig(Map.of(), null, null, null, null))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("kafka.group.instance.id:")
        .hasMessageContaining("set instance.id (INSTANCE_ID) instead");
    assertThatThrownBy(
            () ->
                ExampleConfig.load(SHIPPED, Map.of())
                    .idemConfig(
                        Map.of("IDEM_KAFKA_GROUP_INSTANCE_ID", "web-1"), null, null, null, null))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("kafka.group.instance.id:");
  }

  @Test
  void unknownKeysAreRefused(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("x.properties");
    Files.writeString(file, Files.readString(SHIPPED) + "\nwebhook.tolerance=5m\n");
    assertThatThrownBy(() -> ExampleConfig.load(file, Map.of()))
        .isInstanceOf(IdemConfigException.class)
        .hasMessageStartingWith("webhook.tolerance: unknown setting");
  }
}
