package dev.idem.example.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.idem.consumer.IdemConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The compose file cannot be started here (no Docker engine); check that it agrees with config. */
class ComposeFileTest {
  private static final Path ROOT = Path.of("..");

  @Test
  void theComposeFileWiresTheAppThroughTheDocumentedVariables() throws Exception {
    JsonNode compose =
        new ObjectMapper(new YAMLFactory()).readTree(ROOT.resolve("docker-compose.yml").toFile());
    JsonNode services = compose.get("services");
    assertThat(services.has("kafka")).isTrue();
    assertThat(services.has("postgres")).isTrue();
    assertThat(services.has("app")).isTrue();
    assertThat(services.get("kafka").get("image").asText()).isEqualTo("apache/kafka:4.3.1");
    assertThat(services.get("postgres").get("image").asText()).startsWith("postgres:17");

    Map<String, String> env = new HashMap<>();
    services
        .get("app")
        .get("environment")
        .fields()
        .forEachRemaining(e -> env.put(e.getKey(), e.getValue().asText()));
    assertThat(env)
        .containsKeys(
            "KAFKA_BOOTSTRAP_SERVERS",
            "PG_URL",
            "PG_USER",
            "PG_PASSWORD",
            "WEBHOOK_SECRETS",
            "HTTP_PORT");
    // The app reaches the other services by their names and the ports they listen on.
    assertThat(env.get("KAFKA_BOOTSTRAP_SERVERS")).isEqualTo("kafka:9092");
    assertThat(services.get("kafka").get("environment").get("KAFKA_ADVERTISED_LISTENERS").asText())
        .contains("kafka:9092");
    assertThat(env.get("PG_URL")).isEqualTo("jdbc:postgresql://postgres:5432/postgres");
    assertThat(env.get("PG_PASSWORD"))
        .isEqualTo(services.get("postgres").get("environment").get("POSTGRES_PASSWORD").asText());
    assertThat(services.get("app").get("ports").get(0).asText())
        .isEqualTo(env.get("HTTP_PORT") + ":" + env.get("HTTP_PORT"));
    // The healthcheck asks the readiness probe on the app's own port (HealthProbesHttpTest runs
    // it).
    assertThat(healthcheckScript(services))
        .contains("/dev/tcp/127.0.0.1/" + env.get("HTTP_PORT") + " ")
        .contains("GET /health/ready ");
    assertThat(Files.exists(ROOT.resolve("Dockerfile"))).isTrue();
    assertThat(Files.readString(ROOT.resolve("Dockerfile")))
        .contains("dev.idem.example.webhook.Main", "serve");

    // The same variables, read the way serve mode reads them, give a valid configuration. The
    // compose file is a local trial with the published demo secret, which serve mode accepts only
    // when told so.
    ExampleConfig config =
        ExampleConfig.load(ROOT.resolve("config/webhook-example.properties"), env);
    assertThat(config.httpPort()).isEqualTo(Integer.parseInt(env.get("HTTP_PORT")));
    env.put("HOSTNAME", services.get("app").get("hostname").asText());
    IdemConfig idem = Main.serveConfig(config, env);
    assertThat(idem.kafka()).containsEntry("group.instance.id", "app-1-ledger");
    assertThat(idem.kafka().get("bootstrap.servers")).isEqualTo("kafka:9092");
    assertThat(idem.database().url()).isEqualTo(env.get("PG_URL"));
    assertThat(idem.database().password()).isEqualTo("postgres");
  }

  /** The shell script of the app's healthcheck: {@code test: [CMD, bash, -c, <script>]}. */
  static String healthcheckScript(JsonNode services) {
    JsonNode test = services.get("app").get("healthcheck").get("test");
    assertThat(test.size()).isEqualTo(4);
    assertThat(List.of(test.get(0).asText(), test.get(1).asText(), test.get(2).asText()))
        .containsExactly("CMD", "bash", "-c");
    return test.get(3).asText();
  }

  /** The services of the compose file. */
  static JsonNode services() throws java.io.IOException {
    return new ObjectMapper(new YAMLFactory())
        .readTree(ROOT.resolve("docker-compose.yml").toFile())
        .get("services");
  }
}
