package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.idem.testkit.Fuzz;
import dev.idem.testkit.TestInfrastructure;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * Thousands of hostile requests over raw sockets (so that framing, Content-Length and headers can
 * lie), with a known number of valid signed webhooks mixed in: every answer is a documented status,
 * never a 5xx; every error answer is counted by the server's own meter; the server still answers
 * afterwards; and exactly the valid webhooks reach Kafka. Seeded: see {@link Fuzz}.
 */
class WebhookFuzzTest {
  private static final int MAX_BODY = 16 * 1024;
  private static final int REQUESTS = 3000;
  private static final Duration TIME = Duration.ofSeconds(25);
  private static final int PARTITIONS = 2;
  private static final Pattern REJECTED_LINE =
      Pattern.compile("^webhook_requests_rejected_total\\{([^}]*)\\} ([0-9.Ee+]+)$");
  private static final Pattern STATUS_TAG = Pattern.compile("status=\"(\\d+)\"");

  /** What a request is, and which statuses it may get (the first is the usual one). */
  enum Kind {
    VALID(202),
    VALID_CHUNKED(202),
    VALID_WITH_QUERY(202),
    VALID_EXPECT_CONTINUE(202),
    RANDOM_BODY_SIGNED(400),
    TRUNCATED_JSON_SIGNED(400),
    WRONG_FIELDS_SIGNED(400),
    INVALID_UTF8_SIGNED(400),
    TRAILING_GARBAGE_SIGNED(400),
    EMPTY_BODY_SIGNED(400),
    EMPTY_BODY_UNSIGNED(400),
    OVERSIZED(413),
    OVERSIZED_CHUNKED(413),
    OVERSIZED_DECLARED(413),
    OVERSIZED_BY_MEGABYTES(413),
    CONTENT_LENGTH_TOO_SHORT(401),
    CONTENT_LENGTH_TOO_LONG(400),
    CONTENT_LENGTH_MISSING(401),
    BAD_CHUNK_FRAMING(400),
    CHUNKED_AND_CONTENT_LENGTH(400),
    MISSING_HEADER(400),
    GARBLED_TIMESTAMP(400),
    GARBLED_SIGNATURE(400),
    BAD_SIGNATURE(401),
    DUPLICATE_HEADER(400),
    STALE_TIMESTAMP(401),
    FUTURE_TIMESTAMP(401),
    LONG_WEBHOOK_ID_SIGNED(400),
    HUGE_HEADER(431),
    LONG_PATH(414, 431),
    WRONG_METHOD(405),
    WRONG_PATH(404),
    ODD_PATH(404, 400, 401),
    MALFORMED_HTTP(400);

    final Set<Integer> statuses;

    Kind(Integer... statuses) {
      this.statuses = Set.of(statuses);
    }

    boolean valid() {
      return statuses.equals(Set.of(202));
    }
  }

  /** A raw request, what it is, and the topic it publishes to when valid. */
  record Attempt(Kind kind, byte[] bytes, boolean halfClose, String topic) {}

  @Test
  void hostileRequestsGetDocumentedAnswersAreCountedAndOnlyValidWebhooksArePublished()
      throws Exception {
    long seed = Fuzz.seed(WebhookFuzzTest.class);
    String as = "seed " + seed;
    Random random = new Random(seed);
    String name = TestInfrastructure.uniqueName("fuzzhttp");
    ExampleConfig config = withMaxBody(config(name), MAX_BODY);
    try (WebhookApplication app = start(config)) {
      app.startConsumer();
      Generator generator = new Generator(config, random, name);
      Map<Kind, Integer> sent = new TreeMap<>();
      Map<Kind, Long> slowest = new TreeMap<>();
      Map<Integer, Integer> errorAnswers = new TreeMap<>();
      Map<String, Integer> validPerTopic = new TreeMap<>();
      Map<String, Integer> unexpected = new TreeMap<>();
      List<String> examples = new ArrayList<>();
      long start = System.nanoTime();
      long deadline = start + TIME.toNanos();
      int requests = 0;
      while (requests < REQUESTS && System.nanoTime() < deadline) {
        Attempt attempt = generator.next();
        long t0 = System.nanoTime();
        List<Integer> statuses = exchange(app.port(), attempt);
        slowest.merge(attempt.kind(), (System.nanoTime() - t0) / 1_000_000, Math::max);
        requests++;
        sent.merge(attempt.kind(), 1, Integer::sum);
        for (int status : statuses) {
          if (status < 200 || status > 299) {
            errorAnswers.merge(status, 1, Integer::sum);
          }
        }
        if (statuses.size() != 1 || !attempt.kind().statuses.contains(statuses.get(0))) {
          String what = attempt.kind() + " got " + statuses;
          if (unexpected.merge(what, 1, Integer::sum) == 1) {
            examples.add(what + ": " + preview(attempt.bytes()));
          }
        } else if (attempt.kind().valid()) {
          validPerTopic.merge(attempt.topic(), 1, Integer::sum);
        }
      }
      long millis = (System.nanoTime() - start) / 1_000_000;
      System.out.printf(
          "WebhookFuzzTest: %d requests in %d ms; by kind %s; error answers %s; slowest (ms) %s%n",
          requests, millis, sent, errorAnswers, slowest);

      assertThat(unexpected)
          .as(as + ": answers outside the documented ones, e.g. %s", examples)
          .isEmpty();
      assertThat(requests).as(as).isGreaterThanOrEqualTo(500);
      assertThat(errorAnswers.keySet()).as(as).noneMatch(s -> s >= 500);

      // The server still answers, and is healthy.
      await(as + ": health")
          .atMost(Duration.ofSeconds(30))
          .until(() -> get(app.port(), "/health").statusCode() == 200);

      // Every error answer was counted by the server, under its status.
      assertThat(rejectedByStatus(get(app.port(), "/metrics").body()))
          .as(as + ": webhook_requests_rejected_total by status")
          .isEqualTo(errorAnswers);

      // Exactly the valid webhooks reached Kafka.
      assertThat(recordsOn(config.primaryTopic()))
          .as(as + ": records on the primary topic")
          .isEqualTo((long) validPerTopic.getOrDefault(config.primaryTopic(), 0));
      assertThat(recordsOn(config.replayTopic()))
          .as(as + ": records on the replay topic")
          .isEqualTo((long) validPerTopic.getOrDefault(config.replayTopic(), 0));
      long valid = validPerTopic.values().stream().mapToInt(Integer::intValue).sum();
      assertThat(valid).as(as).isEqualTo(generator.validIds.size());
      // And they are readable: the consumer applied each of them, by its id.
      String entries = "FROM ledger.entries WHERE starts_with(event_id, '" + name + "-')";
      await(as + ": ledger")
          .atMost(Duration.ofSeconds(60))
          .until(() -> count("SELECT count(*) " + entries) == valid);
      assertThat(eventIds("SELECT event_id " + entries))
          .as(as + ": applied ids")
          .isEqualTo(generator.validIds);
    }
  }

  private static Set<String> eventIds(String query) throws Exception {
    Set<String> ids = new java.util.HashSet<>();
    try (java.sql.Connection c = INFRA.postgres().dataSource().getConnection();
        java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery(query)) {
      while (rs.next()) {
        ids.add(rs.getString(1));
      }
    }
    return ids;
  }

  private static ExampleConfig withMaxBody(ExampleConfig c, int maxBody) {
    return new ExampleConfig(
        c.httpPort(),
        c.secrets(),
        c.allowDemoSecret(),
        maxBody,
        c.tolerance(),
        c.primaryTopic(),
        c.replayTopic(),
        c.partitions(),
        c.demoEvents(),
        c.demoAccounts(),
        c.demoSeed(),
        c.instanceId(),
        c.idem());
  }

  /**
   * Sends one request on its own connection and reads until the server closes it; returns the final
   * statuses read (interim 1xx answers skipped), empty when nothing came back.
   */
  private static List<Integer> exchange(int port, Attempt attempt) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(15_000);
      OutputStream out = socket.getOutputStream();
      try {
        out.write(attempt.bytes());
        out.flush();
        if (attempt.halfClose()) {
          socket.shutdownOutput();
        }
      } catch (IOException e) {
        // The server may answer and close before reading everything (a 413): read the answer.
      }
      return statuses(readUntilClosed(socket.getInputStream()));
    }
  }

  private static byte[] readUntilClosed(InputStream in) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    byte[] buffer = new byte[8192];
    try {
      int n;
      while ((n = in.read(buffer)) >= 0 && all.size() < 1 << 20) {
        all.write(buffer, 0, n);
      }
    } catch (IOException e) {
      // A reset after the answer: keep what arrived.
    }
    return all.toByteArray();
  }

  private static final Pattern STATUS_LINE = Pattern.compile("HTTP/1\\.[01] (\\d{3}) ");

  /** The final statuses in a stream of answers. */
  static List<Integer> statuses(byte[] answer) {
    String text = new String(answer, StandardCharsets.ISO_8859_1);
    List<Integer> statuses = new ArrayList<>();
    int at = 0;
    while (at < text.length()) {
      Matcher m = STATUS_LINE.matcher(text);
      if (!m.find(at) || m.start() != at) {
        break;
      }
      int status = Integer.parseInt(m.group(1));
      int headEnd = text.indexOf("\r\n\r\n", at);
      if (headEnd < 0) {
        statuses.add(status);
        break;
      }
      int next = headEnd + 4;
      if (status >= 200) {
        statuses.add(status);
        Matcher length =
            Pattern.compile("(?i)\r\ncontent-length: *(\\d+)").matcher(text.substring(at, headEnd));
        next += length.find() ? Integer.parseInt(length.group(1)) : text.length();
      }
      at = next;
    }
    return statuses;
  }

  private static HttpResponse<String> get(int port, String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(10))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** The server's {@code webhook_requests_rejected_total}, summed per status. */
  private static Map<Integer, Integer> rejectedByStatus(String metrics) {
    Map<Integer, Integer> result = new TreeMap<>();
    for (String line : metrics.split("\n")) {
      Matcher m = REJECTED_LINE.matcher(line.trim());
      if (m.matches()) {
        Matcher status = STATUS_TAG.matcher(m.group(1));
        assertThat(status.find()).as(line).isTrue();
        int n = (int) Double.parseDouble(m.group(2));
        if (n > 0) {
          result.merge(Integer.parseInt(status.group(1)), n, Integer::sum);
        }
      }
    }
    return result;
  }

  private static long recordsOn(String topic) throws Exception {
    try (Admin admin =
        Admin.create(Map.of("bootstrap.servers", INFRA.kafka().bootstrapServers()))) {
      Map<TopicPartition, OffsetSpec> request = new java.util.HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        request.put(new TopicPartition(topic, p), OffsetSpec.latest());
      }
      return admin.listOffsets(request).all().get(30, TimeUnit.SECONDS).values().stream()
          .mapToLong(i -> i.offset())
          .sum();
    }
  }

  /** The request's head (long lines cut), and its length. */
  private static String preview(byte[] bytes) {
    String text = new String(bytes, StandardCharsets.ISO_8859_1);
    int end = text.indexOf("\r\n\r\n");
    StringBuilder sb = new StringBuilder();
    for (String line : (end < 0 ? text : text.substring(0, end)).split("\r\n")) {
      String shown =
          line.length() > 120 ? line.substring(0, 120) + "...(" + line.length() + ")" : line;
      sb.append(shown.replaceAll("[^\\x20-\\x7e]", "?")).append(" | ");
    }
    return sb.append(bytes.length).append(" bytes").toString();
  }

  /** Builds the requests, each signed just before it is sent. */
  private static final class Generator {
    private final ExampleConfig config;
    private final WebhookVerifier verifier;
    private final WebhookVerifier stranger;
    private final Random random;
    private final String prefix;
    private final Kind[] kinds = Kind.values();
    final Set<String> validIds = new java.util.HashSet<>();
    private int n;
    private int megabyteBodies;

    Generator(ExampleConfig config, Random random, String prefix) {
      this.config = config;
      this.verifier = config.verifier(Clock.systemUTC());
      this.stranger =
          new WebhookVerifier(
              List.of("whsec_c3RyYW5nZXItc2VjcmV0LW5vdC1vdXJz"),
              Clock.systemUTC(),
              config.tolerance());
      this.random = random;
      this.prefix = prefix;
    }

    Attempt next() {
      // About one request in five is a valid webhook.
      Kind kind = random.nextInt(6) == 0 ? Kind.VALID : kinds[random.nextInt(kinds.length)];
      if (kind == Kind.OVERSIZED_BY_MEGABYTES && megabyteBodies++ >= 12) {
        kind = Kind.VALID; // a dozen is enough, and keeps the run short
      }
      String id = prefix + "-" + (n++) + "-" + Integer.toString(random.nextInt(1 << 30), 36);
      boolean replay = random.nextInt(4) == 0;
      String topic = replay ? config.replayTopic() : config.primaryTopic();
      String path = replay ? "/replay/webhooks" : "/webhooks";
      byte[] body = validBody();
      long now = System.currentTimeMillis() / 1000;
      Request r = new Request("POST", path, body).signed(id, now, verifier);
      boolean halfClose = false;
      switch (kind) {
        case VALID -> {}
        case VALID_CHUNKED -> r.framing = Framing.CHUNKED;
        case VALID_WITH_QUERY -> r.target = path + "?attempt=" + random.nextInt(9) + "&x=%20";
        case VALID_EXPECT_CONTINUE -> r.header("Expect", "100-continue");
        case RANDOM_BODY_SIGNED ->
            r.body(randomBytes(1 + random.nextInt(2000))).signed(id, now, verifier);
        case TRUNCATED_JSON_SIGNED ->
            r.body(Arrays.copyOf(body, random.nextInt(body.length))).signed(id, now, verifier);
        case WRONG_FIELDS_SIGNED -> r.body(utf8(wrongFields())).signed(id, now, verifier);
        case INVALID_UTF8_SIGNED -> r.body(invalidUtf8(body)).signed(id, now, verifier);
        case TRAILING_GARBAGE_SIGNED ->
            r.body(concat(body, utf8(trailing()))).signed(id, now, verifier);
        case EMPTY_BODY_SIGNED -> r.body(new byte[0]).signed(id, now, verifier);
        case EMPTY_BODY_UNSIGNED -> {
          r.body(new byte[0]);
          r.headers.clear();
        }
        case OVERSIZED -> {
          r.body(oversized());
          if (random.nextBoolean()) {
            r.signed(id, now, verifier);
          }
        }
        case OVERSIZED_BY_MEGABYTES -> {
          // Larger than the socket buffers: the server answers while the body is still coming.
          byte[] big = new byte[MAX_BODY + (1 << 20) + random.nextInt(2 << 20)]; // < 4 MiB
          Arrays.fill(big, (byte) '7');
          r.body(big).signed(id, now, verifier);
          r.framing = random.nextBoolean() ? Framing.CHUNKED : Framing.CONTENT_LENGTH;
        }
        case OVERSIZED_CHUNKED -> {
          r.body(oversized()).signed(id, now, verifier);
          r.framing = Framing.CHUNKED;
        }
        case OVERSIZED_DECLARED -> {
          r.declaredLength = MAX_BODY + 1 + (random.nextBoolean() ? random.nextInt(1 << 30) : 0);
          halfClose = true;
        }
        case CONTENT_LENGTH_TOO_SHORT -> r.declaredLength = random.nextInt(body.length);
        case CONTENT_LENGTH_TOO_LONG -> {
          r.declaredLength = body.length + 1 + random.nextInt(MAX_BODY - body.length);
          halfClose = true;
        }
        case CONTENT_LENGTH_MISSING -> r.framing = Framing.NONE;
        case BAD_CHUNK_FRAMING -> r.framing = Framing.BAD_CHUNKS;
        case CHUNKED_AND_CONTENT_LENGTH -> r.framing = Framing.CHUNKED_WITH_LENGTH;
        case MISSING_HEADER -> r.remove(webhookHeader());
        case GARBLED_TIMESTAMP -> r.replace("webhook-timestamp", garbledTimestamp(now));
        case GARBLED_SIGNATURE ->
            r.replace("webhook-signature", pick("v1", "garbage", ",", "v1,", " , "));
        case BAD_SIGNATURE -> {
          if (random.nextBoolean()) {
            r.signed(id, now, stranger);
          } else {
            r.replace(
                "webhook-signature",
                pick("v1,AAAA", "v1a,xyz v2,abc", "v1,!!!!", "v1," + base64(32)));
          }
        }
        case DUPLICATE_HEADER -> {
          String header = webhookHeader();
          String value = r.get(header);
          r.header(header, random.nextBoolean() ? value : value + "x");
        }
        case STALE_TIMESTAMP ->
            r.signed(
                id, now - config.tolerance().toSeconds() - 5 - random.nextInt(100_000), verifier);
        case FUTURE_TIMESTAMP ->
            r.signed(
                id, now + config.tolerance().toSeconds() + 5 + random.nextInt(100_000), verifier);
        case LONG_WEBHOOK_ID_SIGNED ->
            r.signed(id + "x".repeat(513 - id.length() + random.nextInt(3000)), now, verifier);
        case HUGE_HEADER -> {
          String value = "v".repeat(9 * 1024 + random.nextInt(60 * 1024));
          if (random.nextBoolean()) {
            r.replace("webhook-signature", value);
          } else {
            r.header("X-Junk", value);
          }
        }
        case LONG_PATH -> r.target = path + "/" + "p".repeat(9 * 1024 + random.nextInt(20_000));
        case WRONG_METHOD -> r.method = pick("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");
        case WRONG_PATH ->
            r.target =
                pick(
                    "/webhook",
                    "/webhooks/",
                    "/WEBHOOKS",
                    "/webhooks/x",
                    "/",
                    "/replay",
                    "/replay/webhooks/x",
                    "/metricsx",
                    "/healthz",
                    "/hooks");
        case ODD_PATH -> {
          r.target =
              pick(
                  "//webhooks",
                  "/webhooks/..",
                  "/./webhooks",
                  "/%2e%2e/webhooks",
                  "/webhooks%00",
                  "/webhooks%2F",
                  "/%77ebhooks",
                  "/webhooks;a=b",
                  "/webhooks/%2e",
                  "/x/../webhooks");
          r.replace("webhook-signature", "v1," + base64(32));
        }
        default -> r.malformed = malformedLine();
      }
      if (kind.valid()) {
        validIds.add(id);
      }
      return new Attempt(kind, r.bytes(random), halfClose, topic);
    }

    private byte[] validBody() {
      String[] types = {"payment.succeeded", "payment.refunded"};
      return new PaymentEvent(
              types[random.nextInt(types.length)],
              "acct_" + prefix + "_" + random.nextInt(50),
              1 + random.nextInt(100_000),
              pick("EUR", "USD", "CHF"))
          .toJson();
    }

    private String webhookHeader() {
      return pick("webhook-id", "webhook-timestamp", "webhook-signature");
    }

    private String wrongFields() {
      return pick(
          "{}",
          "[]",
          "null",
          "42",
          "\"text\"",
          "{\"type\":\"payment.succeeded\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":-5,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":0,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":1.5,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":\"5\",\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":1e99,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\"a\",\"amount\":5,\"currency\":\"eur\"}",
          "{\"type\":\"\",\"account\":\"a\",\"amount\":5,\"currency\":\"EUR\"}",
          "{\"type\":7,\"account\":\"a\",\"amount\":5,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\" \",\"amount\":5,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":\""
              + "a".repeat(101)
              + "\",\"amount\":5,\"currency\":\"EUR\"}",
          "{\"type\":\"payment.succeeded\",\"account\":{\"id\":1},\"amount\":5,\"currency\":\"EUR\"}");
    }

    private String trailing() {
      return pick("x", "}", " {\"a\":1}", ",", "]", "\u0000", " garbage");
    }

    private byte[] invalidUtf8(byte[] body) {
      byte[] copy = body.clone();
      // Inside the account's string value: "acct_..." -> a lone continuation or an 0xff byte.
      int at = new String(copy, StandardCharsets.ISO_8859_1).indexOf("acct_") + 1;
      copy[at] = (byte) (random.nextBoolean() ? 0xff : 0x80 + random.nextInt(0x40));
      return copy;
    }

    private String garbledTimestamp(long now) {
      return pick(
          "soon",
          "1.5e9",
          Long.toString(now) + "x",
          "0x" + Long.toHexString(now),
          "99999999999999999999999",
          "--1",
          Long.toString(now).replace('1', 'l'));
    }

    private byte[] oversized() {
      byte[] body = new byte[MAX_BODY + 1 + random.nextInt(3 * MAX_BODY)];
      Arrays.fill(body, (byte) ' ');
      return body;
    }

    private String malformedLine() {
      return pick(
          "No-Colon-Here",
          "Bad Name: x",
          "webhook-id : x",
          "X-Nul: a\u0000b",
          " leading-space: x",
          "X-Ctl: a\u0001b");
    }

    private String base64(int bytes) {
      return java.util.Base64.getEncoder().encodeToString(randomBytes(bytes));
    }

    private byte[] randomBytes(int length) {
      byte[] bytes = new byte[length];
      random.nextBytes(bytes);
      bytes[0] = (byte) 0xfe; // never the start of JSON text
      return bytes;
    }

    @SafeVarargs
    private <T> T pick(T... options) {
      return options[random.nextInt(options.length)];
    }
  }

  enum Framing {
    CONTENT_LENGTH,
    NONE,
    CHUNKED,
    BAD_CHUNKS,
    CHUNKED_WITH_LENGTH
  }

  /** A request under construction: method, target, headers in order, body and its framing. */
  private static final class Request {
    String method;
    String target;
    final List<String[]> headers = new ArrayList<>();
    byte[] body;
    Framing framing = Framing.CONTENT_LENGTH;
    Integer declaredLength;
    String malformed;

    Request(String method, String target, byte[] body) {
      this.method = method;
      this.target = target;
      this.body = body;
    }

    Request body(byte[] b) {
      body = b;
      return this;
    }

    Request signed(String id, long timestamp, WebhookVerifier signer) {
      remove("webhook-id");
      remove("webhook-timestamp");
      remove("webhook-signature");
      header("webhook-id", id);
      header("webhook-timestamp", Long.toString(timestamp));
      header("webhook-signature", signer.sign(id, timestamp, body));
      return this;
    }

    Request header(String name, String value) {
      headers.add(new String[] {name, value});
      return this;
    }

    void remove(String name) {
      headers.removeIf(h -> h[0].equalsIgnoreCase(name));
    }

    void replace(String name, String value) {
      remove(name);
      header(name, value);
    }

    String get(String name) {
      return headers.stream().filter(h -> h[0].equals(name)).findFirst().orElseThrow()[1];
    }

    byte[] bytes(Random random) {
      StringBuilder head = new StringBuilder();
      head.append(method).append(' ').append(target).append(" HTTP/1.1\r\n");
      head.append("Host: 127.0.0.1\r\n");
      head.append("Connection: close\r\n");
      if (random.nextBoolean()) {
        head.append("Content-Type: application/json\r\n");
      }
      List<String[]> shuffled = new ArrayList<>(headers);
      java.util.Collections.shuffle(shuffled, random);
      for (String[] h : shuffled) {
        head.append(h[0]).append(": ").append(h[1]).append("\r\n");
      }
      if (malformed != null) {
        head.append(malformed).append("\r\n");
      }
      byte[] payload = body;
      switch (framing) {
        case CONTENT_LENGTH -> {
          int length = declaredLength != null ? declaredLength : body.length;
          head.append("Content-Length: ").append(length).append("\r\n");
        }
        case NONE -> {}
        case CHUNKED -> {
          head.append("Transfer-Encoding: chunked\r\n");
          payload = chunked(body, random);
        }
        case BAD_CHUNKS -> {
          head.append("Transfer-Encoding: chunked\r\n");
          payload = concat(utf8("zz\r\n"), body, utf8("\r\n0\r\n\r\n"));
        }
        default -> {
          head.append("Transfer-Encoding: chunked\r\n");
          head.append("Content-Length: ").append(body.length).append("\r\n");
          payload = chunked(body, random);
        }
      }
      head.append("\r\n");
      return concat(head.toString().getBytes(StandardCharsets.ISO_8859_1), payload);
    }

    private static byte[] chunked(byte[] body, Random random) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int at = 0;
      while (at < body.length) {
        int size = Math.min(body.length - at, 1 + random.nextInt(4096));
        out.writeBytes(utf8(Integer.toHexString(size) + "\r\n"));
        out.write(body, at, size);
        out.writeBytes(utf8("\r\n"));
        at += size;
      }
      out.writeBytes(utf8("0\r\n\r\n"));
      return out.toByteArray();
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
