package dev.idem.example.webhook;

import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.EventIds;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jetty.JettyServerThreadPoolMetrics;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.Kind;
import io.micrometer.observation.transport.ReceiverContext;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP side: {@code POST /webhooks} and {@code POST /replay/webhooks} (the second ingest path,
 * for backfills and provider-side replays, publishing to a second topic), {@code GET /health},
 * {@code GET /health/ready} and {@code GET /health/live} (see {@link HealthEndpoints}) and {@code
 * GET /metrics}.
 *
 * <p>Jetty 12's core handler API, without a servlet layer: it hands over the raw body bytes for the
 * signature check, lets the size limit be enforced while reading, and is a small, well-kept
 * dependency that Micrometer instruments.
 *
 * <p>Webhook responses, checked in this order: 405 for other methods; 413 for a body over the
 * limit; 400 for missing, malformed or repeated webhook headers; 401 for a bad signature or a
 * timestamp outside the tolerance; 400 for a {@code webhook-id} the consumer could not use (see
 * {@link EventIds#problem}) and for a body that is not JSON or not a payment event; 202 once the
 * broker acknowledged the record; 503 with {@code Retry-After} when Kafka is unavailable. A
 * duplicate delivery gets 202 like the first: deduplication happens in the consumer. Other paths
 * get 404. Jetty itself answers malformed HTTP with 400, and a request line or headers over its
 * limits (8 KiB) with 414 or 431.
 *
 * <p>Every error answer is counted once in {@value #REJECTED}, tagged with a fixed {@code reason}
 * and the {@code status}.
 *
 * <p>Each webhook request is one {@value #OBSERVATION} observation (a server span {@code POST
 * /webhooks} when tracing is set up) that continues the request's W3C {@code traceparent}; the
 * record published to Kafka carries the trace on (see {@link KafkaPublisher}).
 */
public final class IngestServer implements AutoCloseable {
  /** The meter of refused requests, tagged {@code reason} and {@code status}. */
  public static final String REJECTED = "webhook.requests.rejected";

  /**
   * The observation of one webhook request. Not {@code http.server.requests}: that is the timer of
   * every request, recorded by the server itself.
   */
  public static final String OBSERVATION = "webhook.ingest";

  /** The most request-body bytes read and dropped before an answer that does not need them. */
  static final int DISCARD_LIMIT = 4 * 1024 * 1024;

  private static final Logger log = LoggerFactory.getLogger(IngestServer.class);

  private final Server server;
  private final ServerConnector connector;

  /**
   * @param kafkaUp answers at once whether the broker was reachable when last checked
   * @param consumers the health views of this process's consumers, answered at once
   */
  public IngestServer(
      ExampleConfig config,
      WebhookVerifier verifier,
      KafkaPublisher publisher,
      PrometheusMeterRegistry registry,
      ObservationRegistry observations,
      BooleanSupplier kafkaUp,
      Supplier<List<ConsumerHealth>> consumers) {
    QueuedThreadPool threads = new QueuedThreadPool(64, 8);
    threads.setName("http");
    this.server = new Server(threads);
    this.connector = new ServerConnector(server);
    connector.setHost("0.0.0.0");
    connector.setPort(config.httpPort());
    server.addConnector(connector);
    server.setHandler(
        new Routes(
            config,
            verifier,
            publisher,
            registry,
            new HealthEndpoints(kafkaUp, consumers),
            registry,
            observations));
    server.setErrorHandler(new CountingErrorHandler(registry));
    new JettyServerThreadPoolMetrics(threads, List.of()).bindTo(registry);
  }

  /** Starts listening. */
  public void start() throws Exception {
    server.start();
    log.info("webhook ingest listening on port {}", port());
  }

  /** The port actually bound. */
  public int port() {
    return connector.getLocalPort();
  }

  @Override
  public void close() throws Exception {
    server.stop();
  }

  private static final class Routes extends Handler.Abstract {
    private final ExampleConfig config;
    private final WebhookVerifier verifier;
    private final KafkaPublisher publisher;
    private final PrometheusMeterRegistry prometheus;
    private final HealthEndpoints health;
    private final MeterRegistry registry;
    private final ObservationRegistry observations;

    Routes(
        ExampleConfig config,
        WebhookVerifier verifier,
        KafkaPublisher publisher,
        PrometheusMeterRegistry prometheus,
        HealthEndpoints health,
        MeterRegistry registry,
        ObservationRegistry observations) {
      this.config = config;
      this.verifier = verifier;
      this.publisher = publisher;
      this.prometheus = prometheus;
      this.health = health;
      this.registry = registry;
      this.observations = observations;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      long start = System.nanoTime();
      String path = Request.getPathInContext(request);
      String route =
          switch (path) {
            case "/webhooks",
                "/replay/webhooks",
                "/health",
                "/health/ready",
                "/health/live",
                "/metrics" ->
                path;
            default -> "UNKNOWN";
          };
      int status;
      try {
        status = route(path, request, response, callback);
      } catch (Exception | LinkageError e) {
        log.error("unexpected failure on {} {}", request.getMethod(), path, e);
        status = send(response, callback, 500, "text/plain", "internal error\n", Map.of());
        rejected(registry, "internal-error", status);
      }
      Timer.builder("http.server.requests")
          .description("HTTP requests of the webhook ingest server")
          .tags("method", request.getMethod(), "uri", route, "status", Integer.toString(status))
          .register(registry)
          .record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
      return true;
    }

    private int route(String path, Request request, Response response, Callback callback)
        throws Exception {
      switch (path) {
        case "/webhooks":
          return observed(path, config.primaryTopic(), request, response, callback);
        case "/replay/webhooks":
          return observed(path, config.replayTopic(), request, response, callback);
        case "/health":
          return health(health.overview(), response, callback);
        case "/health/ready":
          return health(health.ready(), response, callback);
        case "/health/live":
          return health(health.live(), response, callback);
        case "/metrics":
          return send(
              response,
              callback,
              200,
              "text/plain; version=0.0.4; charset=utf-8",
              prometheus.scrape(),
              Map.of());
        default:
          discardBody(request);
          rejected(registry, "unknown-path", 404);
          return send(response, callback, 404, "text/plain", "not found\n", Map.of());
      }
    }

    /**
     * {@link #webhook} inside the request's observation, whose scope is open while the record is
     * published: the producer's observation is its child.
     */
    private int observed(
        String path, String topic, Request request, Response response, Callback callback)
        throws InterruptedException {
      if (observations.isNoop()) {
        return webhook(topic, request, response, callback);
      }
      ReceiverContext<Request> context =
          new ReceiverContext<>((carrier, key) -> carrier.getHeaders().get(key), Kind.SERVER);
      context.setCarrier(request);
      Observation observation =
          Observation.createNotStarted(OBSERVATION, () -> context, observations)
              .contextualName(request.getMethod() + " " + path)
              .lowCardinalityKeyValue("http.request.method", request.getMethod())
              .lowCardinalityKeyValue("http.route", path)
              .start();
      try (Observation.Scope scope = observation.openScope()) {
        int status = webhook(topic, request, response, callback);
        observation.lowCardinalityKeyValue("http.response.status_code", Integer.toString(status));
        return status;
      } catch (InterruptedException | RuntimeException | LinkageError e) {
        observation.error(e);
        throw e;
      } finally {
        observation.stop();
      }
    }

    private int webhook(String topic, Request request, Response response, Callback callback)
        throws InterruptedException {
      if (!"POST".equals(request.getMethod())) {
        discardBody(request);
        rejected(registry, "method-not-allowed", 405);
        return send(response, callback, 405, "text/plain", "use POST\n", Map.of("Allow", "POST"));
      }
      try {
        byte[] body = readBody(request, config.maxBodyBytes());
        HttpFields headers = request.getHeaders();
        String id = single(headers, "webhook-id");
        String timestamp = single(headers, "webhook-timestamp");
        verifier.verify(id, timestamp, single(headers, "webhook-signature"), body);
        String idProblem = EventIds.problem(id);
        if (idProblem != null) {
          // Signed, but the consumer would only dead-letter it: say so to the sender now.
          throw new WebhookRejected(
              400, "invalid-event-id", "webhook-id is not a usable event id: " + idProblem);
        }
        PaymentEvent event = PaymentEvent.parse(body);
        publisher.publish(
            topic,
            event.account(),
            id,
            timestamp.trim(),
            body,
            headers.get(KafkaPublisher.TRACEPARENT));
        return send(response, callback, 202, "text/plain", "accepted\n", Map.of());
      } catch (WebhookRejected e) {
        rejected(registry, e.reason(), e.status());
        return send(response, callback, e.status(), "text/plain", e.getMessage() + "\n", Map.of());
      } catch (KafkaPublisher.UnavailableException e) {
        log.warn("webhook not accepted: {}", e.getMessage());
        rejected(registry, "kafka-unavailable", 503);
        return send(
            response,
            callback,
            503,
            "text/plain",
            "Kafka is unavailable; retry later\n",
            Map.of("Retry-After", "5"));
      }
    }

    /**
     * The header's value, or null when missing. A webhook header sent more than once is refused:
     * which copy was signed, and which one a proxy on the way would pass on, is anyone's guess.
     */
    private static String single(HttpFields headers, String name) throws WebhookRejected {
      List<String> values = headers.getValuesList(name);
      if (values.size() > 1) {
        throw new WebhookRejected(400, "duplicate-header", name + " header is sent more than once");
      }
      return values.isEmpty() ? null : values.get(0);
    }

    /**
     * Reads at most {@code limit} bytes; more is a 413, whatever Content-Length said. The rest of
     * an over-long body is read and dropped first (up to {@value #DISCARD_LIMIT} bytes), as for
     * every answer given before the body was read (see {@link #discardBody}).
     */
    private static byte[] readBody(Request request, int limit) throws WebhookRejected {
      long declared = request.getLength();
      if (declared > limit) {
        discardBody(request);
        throw new WebhookRejected(413, "body-too-large", "body is larger than " + limit + " bytes");
      }
      InputStream in = Request.asInputStream(request);
      try {
        byte[] body = in.readNBytes(limit + 1);
        if (body.length > limit) {
          discard(in);
          throw new WebhookRejected(
              413, "body-too-large", "body is larger than " + limit + " bytes");
        }
        return body;
      } catch (IOException e) {
        throw new WebhookRejected(400, "body-unreadable", "body could not be read");
      } finally {
        closeQuietly(in);
      }
    }

    /**
     * Reads and drops the request body, up to {@value #DISCARD_LIMIT} bytes, before an answer that
     * does not need it. Jetty closes a connection whose request body was left unread with a TCP
     * reset, and a client still sending that body may then lose the answer: it sees a reset (and
     * retries) instead of the 404, 405 or 413. A body declared larger than the limit is left alone:
     * reading it would cost more than the client's retry.
     */
    private static void discardBody(Request request) {
      if (request.getLength() > DISCARD_LIMIT) {
        return;
      }
      InputStream in = Request.asInputStream(request);
      discard(in);
      closeQuietly(in);
    }

    private static void discard(InputStream in) {
      byte[] buffer = new byte[16 * 1024];
      long total = 0;
      try {
        int n;
        while (total <= DISCARD_LIMIT && (n = in.read(buffer)) >= 0) {
          total += n;
        }
      } catch (IOException e) {
        // The client went away or sent a broken body: nothing left to protect.
      }
    }

    private static void closeQuietly(InputStream in) {
      try {
        in.close();
      } catch (IOException e) {
        // Closed before the end of an abandoned body: Jetty closes the connection.
      }
    }

    private static int health(HealthEndpoints.Answer answer, Response response, Callback callback) {
      return send(response, callback, answer.status(), "application/json", answer.json(), Map.of());
    }

    private static int send(
        Response response,
        Callback callback,
        int status,
        String contentType,
        String body,
        Map<String, String> headers) {
      response.setStatus(status);
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
      headers.forEach((k, v) -> response.getHeaders().put(k, v));
      response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
      return status;
    }
  }

  /**
   * Counts a refused request in {@code webhook.requests.rejected}, tagged with a fixed reason and
   * the status: every error answer of the server is counted once, here or in {@link
   * CountingErrorHandler}.
   */
  static void rejected(MeterRegistry registry, String reason, int status) {
    Counter.builder(REJECTED)
        .description("Requests answered with an error status, by reason")
        .tags("reason", reason, "status", Integer.toString(status))
        .register(registry)
        .increment();
  }

  /**
   * Jetty's answers to requests that never reach {@link Routes}: malformed HTTP (400), a request
   * line or headers over Jetty's limits (414, 431), a body framed in a way Jetty refuses. Counted
   * as {@code malformed-request}.
   */
  private static final class CountingErrorHandler extends ErrorHandler {
    private final MeterRegistry registry;

    CountingErrorHandler(MeterRegistry registry) {
      this.registry = registry;
      setShowStacks(false);
      setShowCauses(false);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      Object status = request.getAttribute(ERROR_STATUS);
      rejected(registry, "malformed-request", status instanceof Integer i ? i : 500);
      return super.handle(request, response, callback);
    }
  }
}
