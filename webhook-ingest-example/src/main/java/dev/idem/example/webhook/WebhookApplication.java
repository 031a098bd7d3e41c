package dev.idem.example.webhook;

import static java.util.concurrent.TimeUnit.MILLISECONDS;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.JdbcUrls;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The wired example: topics, ledger schema, the HTTP ingest server publishing to Kafka, and any
 * number of idem consumer instances applying the webhooks to the ledger (one pool each, as separate
 * processes would have).
 */
public final class WebhookApplication implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(WebhookApplication.class);
  private static final int KAFKA_PROBE_INTERVAL_MS = 2000;
  private static final int KAFKA_PROBE_TIMEOUT_MS = 2000;

  private final ExampleConfig config;
  private final IdemConfig idem;
  private final IntFunction<IdemConfig> instances;
  private final AtomicInteger started = new AtomicInteger();
  private final PrometheusMeterRegistry registry;
  private final ObservationRegistry observations;
  private final Admin admin;
  private final KafkaPublisher publisher;
  private final IngestServer server;
  private final HikariDataSource ledgerPool;
  private final List<IdempotentConsumer<PaymentEvent>> consumers = new CopyOnWriteArrayList<>();
  private final ScheduledExecutorService kafkaProbe;
  private volatile boolean kafkaUp = true;

  private WebhookApplication(
      ExampleConfig config,
      IdemConfig idem,
      IntFunction<IdemConfig> instances,
      ObservationRegistry observations,
      Clock clock)
      throws Exception {
    this.config = config;
    this.idem = idem;
    this.instances = instances;
    this.observations = observations;
    this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    String bootstrap = idem.kafka().get("bootstrap.servers").toString();
    this.admin =
        Admin.create(
            Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000));
    List<String> topics = new ArrayList<>(idem.topics());
    for (String t : idem.topics()) {
      String dlt = idem.deadLetterTopicFor(t);
      if (dlt != null) {
        topics.add(dlt);
      }
    }
    Topics.ensure(admin, topics, config.partitions(), (short) 1, config.maxRecordBytes());
    this.ledgerPool = pool(idem, 2, "ledger-setup");
    LedgerHandler.createSchema(ledgerPool);
    this.publisher = new KafkaPublisher(bootstrap, config.maxRecordBytes(), observations);
    // /health is probed often and with short timeouts: it reads what this probe found last (the
    // topics were just created, so Kafka starts out up) instead of asking the broker every time.
    this.kafkaProbe =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "kafka-probe");
              t.setDaemon(true);
              return t;
            });
    kafkaProbe.scheduleWithFixedDelay(
        () -> kafkaUp = probeKafka(),
        KAFKA_PROBE_INTERVAL_MS,
        KAFKA_PROBE_INTERVAL_MS,
        MILLISECONDS);
    this.server =
        new IngestServer(
            config,
            config.verifier(clock),
            publisher,
            registry,
            observations,
            () -> kafkaUp,
            this::health);
    server.start();
    log.info(
        "effective example settings: {}; Kafka {}, PostgreSQL {}",
        config.withoutSecrets(),
        bootstrap,
        JdbcUrls.mask(idem.database().url()));
  }

  /**
   * Starts the ingest side; add consumers with {@link #startConsumer()}, each with the settings
   * {@code idem}.
   */
  public static WebhookApplication start(ExampleConfig config, IdemConfig idem, Clock clock)
      throws Exception {
    return start(config, idem, n -> idem, clock);
  }

  /**
   * Starts the ingest side; the {@code n}-th consumer started (from 1) gets the settings {@code
   * instances.apply(n)}, which differ from {@code idem} in their {@code group.instance.id} only.
   */
  public static WebhookApplication start(
      ExampleConfig config, IdemConfig idem, IntFunction<IdemConfig> instances, Clock clock)
      throws Exception {
    return start(config, idem, instances, ObservationRegistry.NOOP, clock);
  }

  /**
   * As {@link #start(ExampleConfig, IdemConfig, IntFunction, Clock)}, with the HTTP requests, the
   * sends to Kafka and the consumers' transactions observed in {@code observations}: with tracing
   * set up on it (see {@code IdemTracing.register}), one trace runs from the HTTP request through
   * the Kafka record to the ledger transaction.
   */
  public static WebhookApplication start(
      ExampleConfig config,
      IdemConfig idem,
      IntFunction<IdemConfig> instances,
      ObservationRegistry observations,
      Clock clock)
      throws Exception {
    return new WebhookApplication(config, idem, instances, observations, clock);
  }

  /** Starts one more consumer instance in the group, with a pool of its own. */
  public IdempotentConsumer<PaymentEvent> startConsumer() {
    IdemConfig settings = instances.apply(started.incrementAndGet());
    IdempotentConsumer<PaymentEvent> consumer =
        IdempotentConsumer.builder(settings, record -> PaymentEvent.parse(record.value()))
            .eventIds(EventIds.header("webhook-id"))
            .handler(new LedgerHandler())
            .meterRegistry(registry)
            .observationRegistry(observations)
            .build();
    consumer.start();
    consumers.add(consumer);
    return consumer;
  }

  /** Closes one consumer instance: it finishes its records, commits and leaves the group. */
  public void stopConsumer(IdempotentConsumer<PaymentEvent> consumer) {
    consumer.close();
    consumers.remove(consumer);
  }

  /** The HTTP port. */
  public int port() {
    return server.port();
  }

  /** A pool on the ledger's database, for reports. */
  public HikariDataSource ledgerPool() {
    return ledgerPool;
  }

  /** The Kafka admin client. */
  public Admin admin() {
    return admin;
  }

  /** idem's effective settings. */
  public IdemConfig idem() {
    return idem;
  }

  private List<ConsumerHealth> health() {
    return consumers.stream().map(IdempotentConsumer::health).toList();
  }

  private boolean probeKafka() {
    try {
      admin
          .describeCluster(new DescribeClusterOptions().timeoutMs(KAFKA_PROBE_TIMEOUT_MS))
          .nodes()
          .get(KAFKA_PROBE_TIMEOUT_MS, MILLISECONDS);
      return true;
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      return false;
    }
  }

  static HikariDataSource pool(IdemConfig idem, int size, String name) {
    IdemConfig.DatabaseSettings db = idem.database();
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.url());
    c.setUsername(db.user());
    c.setPassword(db.password());
    c.setMaximumPoolSize(size);
    c.setPoolName(name);
    return new HikariDataSource(c);
  }

  @Override
  public void close() throws Exception {
    kafkaProbe.shutdownNow();
    for (IdempotentConsumer<PaymentEvent> c : consumers) {
      c.close();
    }
    consumers.clear();
    server.close();
    publisher.close();
    admin.close();
    ledgerPool.close();
  }

  ExampleConfig config() {
    return config;
  }
}
