package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.IdempotentConsumer;
import dev.idem.testkit.TestInfrastructure;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class IngestHttpTest {
  private static ExampleConfig config;
  private static WebhookApplication app;
  private static IdempotentConsumer<PaymentEvent> consumer;

  @BeforeAll
  static void startApp() throws Exception {
    config = config(TestInfrastructure.uniqueName("ingest"));
    app = start(config);
    consumer = app.startConsumer();
  }

  @AfterAll
  static void stopApp() throws Exception {
    if (app != null) {
      app.close();
    }
  }

  private static byte[] event(String account, long amount) {
    return new PaymentEvent("payment.succeeded", account, amount, "EUR").toJson();
  }

  @Test
  void aSignedWebhookIsAcceptedAndItsDuplicateToo() throws Exception {
    byte[] body = event("acct_dup_" + config.primaryTopic(), 700);
    Map<String, String> headers = signed(config, "dup-1-" + config.primaryTopic(), body);
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(202);
    assertThat(post(app.port(), "/replay/webhooks", headers, body).statusCode()).isEqualTo(202);
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(202);
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () ->
                count(
                        "SELECT count(*) FROM ledger.accounts WHERE account = 'acct_dup_"
                            + config.primaryTopic()
                            + "' AND balance = 700")
                    == 1);
    await().atMost(Duration.ofSeconds(30)).until(() -> consumer.snapshot().duplicates() >= 2);
    assertThat(
            count(
                "SELECT count(*) FROM ledger.entries WHERE event_id = 'dup-1-"
                    + config.primaryTopic()
                    + "'"))
        .isEqualTo(1);
  }

  @Test
  void otherMethodsGet405() throws Exception {
    HttpResponse<String> r =
        HTTP.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/webhooks"))
                .GET()
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(405);
    assertThat(r.headers().firstValue("Allow")).contains("POST");
  }

  @Test
  void aBodyOneByteOverTheLimitGets413EvenWhenSigned() throws Exception {
    byte[] body = new byte[config.maxBodyBytes() + 1];
    java.util.Arrays.fill(body, (byte) ' ');
    assertThat(post(app.port(), "/webhooks", signed(config, "big-1", body), body).statusCode())
        .isEqualTo(413);
  }

  @Test
  void bodiesMegabytesOverTheLimitGet413RatherThanAReset() throws Exception {
    // Seen as "HTTP/1.1 header parser received no bytes": the client lost the answer to a reset.
    for (int i = 0; i < 5; i++) {
      byte[] body = new byte[config.maxBodyBytes() + (1 << 20) + i * 100_000];
      java.util.Arrays.fill(body, (byte) ' ');
      assertThat(post(app.port(), "/webhooks", signed(config, "big-" + i, body), body).statusCode())
          .isEqualTo(413);
    }
  }

  @Test
  void anOversizedBodyIsReadToItsEndBeforeThe413SoItsSenderIsNotReset() throws Exception {
    // The 413 used to go out right after the headers, and Jetty reset the connection on the
    // unread body: a sender still writing got a reset, and may never read the answer.
    int length = config.maxBodyBytes() + (1 << 20);
    byte[] piece = new byte[64 * 1024];
    java.util.Arrays.fill(piece, (byte) ' ');
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", app.port())) {
      socket.setSoTimeout(10_000);
      java.io.OutputStream out = socket.getOutputStream();
      out.write(
          ("POST /webhooks HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + length + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Thread.sleep(300); // the body comes late, as from a slow or busy sender
      for (int sent = 0; sent < length; ) {
        int n = Math.min(piece.length, length - sent);
        out.write(piece, 0, n); // threw "Broken pipe": the server had answered and closed
        sent += n;
        Thread.sleep(2); // lets a reset arrive before the kernel's buffers take the whole body
      }
      out.flush();
      String status = new String(socket.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
      assertThat(status).isEqualTo("HTTP/1.1 413");
    }
  }

  @Test
  void aBodyOfExactlyTheLimitReachesTheLedger() throws Exception {
    String account = "acct_limit_" + config.primaryTopic();
    String prefix =
        "{\"type\":\"payment.succeeded\",\"account\":\""
            + account
            + "\",\"amount\":4200,\"currency\":\"EUR\",\"pad\":\"";
    String suffix = "\"}";
    int pad = config.maxBodyBytes() - prefix.length() - suffix.length();
    byte[] body = (prefix + "x".repeat(pad) + suffix).getBytes(StandardCharsets.UTF_8);
    assertThat(body.length).isEqualTo(1024 * 1024);
    assertThat(
            post(app.port(), "/webhooks", signed(config, "limit-" + account, body), body)
                .statusCode())
        .isEqualTo(202);
    await()
        .atMost(Duration.ofSeconds(60))
        .until(
            () ->
                count(
                        "SELECT count(*) FROM ledger.accounts WHERE account = '"
                            + account
                            + "' AND balance = 4200")
                    == 1);
  }

  @Test
  void missingOrMalformedHeadersGet400() throws Exception {
    byte[] body = event("acct_h", 1);
    Map<String, String> headers = new HashMap<>(signed(config, "h-1", body));
    headers.remove("webhook-id");
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(400);
    headers = new HashMap<>(signed(config, "h-1", body));
    headers.put("webhook-timestamp", "soon");
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(400);
  }

  @Test
  void aBadSignatureOrAStaleTimestampGets401() throws Exception {
    byte[] body = event("acct_s", 1);
    Map<String, String> headers = new HashMap<>(signed(config, "s-1", body));
    headers.put("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(401);
    long stale = System.currentTimeMillis() / 1000 - 600;
    headers.put("webhook-timestamp", Long.toString(stale));
    headers.put(
        "webhook-signature", config.verifier(java.time.Clock.systemUTC()).sign("s-1", stale, body));
    assertThat(post(app.port(), "/webhooks", headers, body).statusCode()).isEqualTo(401);
  }

  @Test
  void bodiesThatAreNotPaymentEventsGet400AfterTheSignatureCheck() throws Exception {
    for (String text :
        new String[] {
          "{not json",
          "[1,2]",
          "{\"type\":\"payment.succeeded\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":-5,\"currency\":\"EUR\"}"
        }) {
      byte[] body = text.getBytes(StandardCharsets.UTF_8);
      assertThat(post(app.port(), "/webhooks", signed(config, "j-1", body), body).statusCode())
          .as(text)
          .isEqualTo(400);
    }
    // Unsigned garbage is a 401: the signature is checked before the body is parsed.
    byte[] garbage = "{not json".getBytes(StandardCharsets.UTF_8);
    Map<String, String> headers = new HashMap<>(signed(config, "j-2", garbage));
    headers.put("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assertThat(post(app.port(), "/webhooks", headers, garbage).statusCode()).isEqualTo(401);
  }

  @Test
  void aWebhookHeaderSentTwiceGets400() throws Exception {
    // The first copy used to win: signed with one value, a proxy may pass on the other.
    byte[] body = event("acct_twice", 1);
    Map<String, String> headers = signed(config, "twice-1", body);
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/webhooks"))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
    headers.forEach(b::header);
    b.header("webhook-id", "twice-2");
    HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.body()).contains("webhook-id header is sent more than once");
  }

  @Test
  void aSignedWebhookIdTheConsumerWouldDeadLetterGets400() throws Exception {
    // A 600-byte id used to get 202 and then be dead-lettered by the consumer.
    byte[] body = event("acct_longid", 1);
    HttpResponse<String> r =
        post(app.port(), "/webhooks", signed(config, "L".repeat(600), body), body);
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.body()).contains("webhook-id is not a usable event id: longer than 512 bytes");
  }

  @Test
  void aSignedBodyWithContentAfterTheJsonValueGets400() throws Exception {
    // Used to be accepted: the parser stopped after the first value.
    for (String trailer : new String[] {"x", " {\"a\":1}", "}"}) {
      byte[] body =
          (new String(event("acct_trailing", 1), StandardCharsets.UTF_8) + trailer)
              .getBytes(StandardCharsets.UTF_8);
      assertThat(post(app.port(), "/webhooks", signed(config, "t-1", body), body).statusCode())
          .as(trailer)
          .isEqualTo(400);
    }
  }

  @Test
  void everyErrorAnswerIsCountedWithItsReasonAndStatus() throws Exception {
    Map<String, Double> before = rejected();
    HttpResponse<String> notFound =
        post(app.port(), "/nowhere", Map.of(), "{}".getBytes(StandardCharsets.UTF_8));
    HttpResponse<String> unsigned =
        post(app.port(), "/webhooks", Map.of(), "{}".getBytes(StandardCharsets.UTF_8));
    // Jetty answers headers over 8 KiB itself; its error handler counts them too.
    HttpResponse<String> huge =
        post(
            app.port(),
            "/webhooks",
            Map.of("X-Huge", "h".repeat(10_000)),
            "{}".getBytes(StandardCharsets.UTF_8));
    assertThat(List.of(notFound.statusCode(), unsigned.statusCode(), huge.statusCode()))
        .containsExactly(404, 400, 431);
    Map<String, Double> after = rejected();
    assertThat(after.get("unknown-path/404") - before.getOrDefault("unknown-path/404", 0.0))
        .isEqualTo(1.0);
    assertThat(after.get("missing-header/400") - before.getOrDefault("missing-header/400", 0.0))
        .isEqualTo(1.0);
    assertThat(
            after.get("malformed-request/431") - before.getOrDefault("malformed-request/431", 0.0))
        .isEqualTo(1.0);
  }

  /** webhook_requests_rejected_total by "reason/status". */
  private static Map<String, Double> rejected() throws Exception {
    String metrics =
        HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    Map<String, Double> result = new HashMap<>();
    java.util.regex.Pattern line =
        java.util.regex.Pattern.compile(
            "webhook_requests_rejected_total\\{reason=\"([^\"]+)\",status=\"(\\d+)\"\\} (\\S+)");
    for (String l : metrics.split("\n")) {
      java.util.regex.Matcher m = line.matcher(l);
      if (m.matches()) {
        result.put(m.group(1) + "/" + m.group(2), Double.parseDouble(m.group(3)));
      }
    }
    return result;
  }

  @Test
  void aRequestWithoutBodyGets400() throws Exception {
    byte[] empty = new byte[0];
    assertThat(post(app.port(), "/webhooks", signed(config, "e-1", empty), null).statusCode())
        .isEqualTo(400);
  }

  @Test
  void healthAndMetricsAnswer() throws Exception {
    HttpResponse<String> health =
        HTTP.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/health"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(health.statusCode()).isEqualTo(200);
    assertThat(health.body())
        .contains("\"status\":\"UP\"")
        .contains("\"kafka\":\"UP\"")
        .contains("\"database\":\"UP\"");
    byte[] body = event("acct_m", 3);
    post(app.port(), "/webhooks", signed(config, "m-1-" + config.primaryTopic(), body), body);
    await().atMost(Duration.ofSeconds(30)).until(() -> consumer.snapshot().processed() >= 1);
    HttpResponse<String> metrics =
        HTTP.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/metrics"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(metrics.statusCode()).isEqualTo(200);
    assertThat(metrics.body())
        .contains("idem_records_processed_total{consumer=\"" + config.idem().get("consumer.name"))
        .contains("http_server_requests_seconds_count{method=\"POST\"")
        .contains("jetty_threads_current");
  }

  @Test
  void readinessAndLivenessAnswer200WhileTheConsumerRuns() throws Exception {
    await("ready")
        .atMost(Duration.ofSeconds(30))
        .until(() -> get(app.port(), "/health/ready").statusCode() == 200);

    HttpResponse<String> ready = get(app.port(), "/health/ready");
    assertThat(ready.headers().firstValue("Content-Type")).contains("application/json");
    assertThat(ready.body())
        .contains("\"status\":\"UP\"")
        .contains("\"ready\":true")
        .contains("\"databaseReachable\":true")
        .contains("\"brokerReachable\":true");
    HttpResponse<String> live = get(app.port(), "/health/live");
    assertThat(live.statusCode()).isEqualTo(200);
    assertThat(live.body()).contains("\"status\":\"UP\"").contains("\"live\":true");
  }

  private static HttpResponse<String> get(int port, String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
