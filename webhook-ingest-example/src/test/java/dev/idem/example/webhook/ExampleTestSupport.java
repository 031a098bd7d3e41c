package dev.idem.example.webhook;

import dev.idem.consumer.IdemConfig;
import dev.idem.testkit.TestInfrastructure;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/** Starts the example against the shared test servers with names of its own. */
final class ExampleTestSupport {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();
  static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  private ExampleTestSupport() {}

  /** The shipped configuration with unique topics and consumer name, on any free port. */
  static ExampleConfig config(String name) {
    ExampleConfig shipped =
        ExampleConfig.load(Path.of("..", "config", "webhook-example.properties"), Map.of());
    Map<String, String> idem = new LinkedHashMap<>(shipped.idem());
    idem.put("consumer.name", name);
    idem.put("consumer.topics", name + "_webhooks," + name + "_replay");
    idem.put("consumer.commit-interval", "200ms");
    return new ExampleConfig(
        0,
        shipped.secrets(),
        shipped.allowDemoSecret(),
        shipped.maxBodyBytes(),
        shipped.tolerance(),
        name + "_webhooks",
        name + "_replay",
        2,
        shipped.demoEvents(),
        shipped.demoAccounts(),
        shipped.demoSeed(),
        shipped.instanceId(),
        idem);
  }

  static IdemConfig idem(ExampleConfig config, String bootstrap) {
    return config.idemConfig(
        Map.of(),
        bootstrap,
        INFRA.postgres().jdbcUrl(),
        INFRA.postgres().user(),
        INFRA.postgres().password());
  }

  static WebhookApplication start(ExampleConfig config) throws Exception {
    return WebhookApplication.start(
        config, idem(config, INFRA.kafka().bootstrapServers()), Clock.systemUTC());
  }

  static HttpResponse<String> post(int port, String path, Map<String, String> headers, byte[] body)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(40))
            .POST(
                body == null
                    ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofByteArray(body));
    headers.forEach(b::header);
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Headers of a correctly signed delivery of {@code body} as {@code id}, signed now. */
  static Map<String, String> signed(ExampleConfig config, String id, byte[] body) {
    long now = System.currentTimeMillis() / 1000;
    return Map.of(
        "webhook-id", id,
        "webhook-timestamp", Long.toString(now),
        "webhook-signature", config.verifier(Clock.systemUTC()).sign(id, now, body));
  }

  static long count(String sql) throws Exception {
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }
}
