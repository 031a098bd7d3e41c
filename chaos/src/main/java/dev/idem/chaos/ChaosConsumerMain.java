package dev.idem.chaos;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.IdemException;
import dev.idem.consumer.BatchContext;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.ConsumerState;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.IdempotentShareConsumer;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.Payloads;
import dev.idem.consumer.ProcessingContext;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.TransactionHook;
import dev.idem.consumer.internal.testing.FaultAccess;
import dev.idem.consumer.outbox.Outbox;
import dev.idem.consumer.outbox.OutboxRelay;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One chaos consumer process: an {@link IdempotentConsumer} writing every event it applies to the
 * {@link Ledger}, with short sessions and timeouts so that faults are noticed quickly. On the first
 * attempt at a {@link ChaosEvent#swallow()} event (in batch mode: the first attempt of a batch
 * holding one), the handler runs the {@link CarelessStatement} after its writes and returns
 * normally; the consumer must fail that attempt, and the retry applies the event.
 *
 * <p>In a share group the handler also writes its ledger row and then, at a {@link
 * ChaosEvent#hang()} event, blocks for {@code hang-ms}, ignoring interrupts, and returns normally:
 * the watchdog must give every such attempt up, abort its transaction and release or (on the last
 * delivery) dead-letter the record, so the row never commits. At a {@link ChaosEvent#slowFail()}
 * event it sleeps {@code slow-fail-ms} (past the record's lock) and throws a retryable exception:
 * the record must be redelivered until its last delivery dead-letters it. The process reports how
 * many such handlers run, and how many on the group's last delivery of their record ({@code
 * delivery-limit}; {@link ChaosProtocol#SLOW_HANDLERS}), and does not halt while one runs on a last
 * delivery.
 *
 * <p>Arguments are {@code key=value}: {@code instance}, {@code group}, {@code bootstrap}, {@code
 * jdbc}, {@code user}, {@code application}, {@code topics} (comma separated), {@code mode} ({@code
 * record}, {@code batch} or {@code grouped}: per-record handler, 32 records per transaction),
 * {@code offset-store} ({@code kafka} or {@code postgresql}), {@code batch-delay-ms}, {@code
 * session-timeout-ms} (default 6000, short so that faults are noticed quickly), {@code group-type}
 * ({@code consumer}, the default, or {@code share}: an {@link IdempotentShareConsumer} in the share
 * group named by {@code group}), {@code static-membership} ({@code true}: {@code group.instance.id}
 * is the host name and the slot, {@code <host>-c2} for every incarnation {@code c2.N}, so a
 * restarted process takes over its predecessor's membership and the three processes on one host
 * never collide), {@code outbox-table} and {@code outbox-topic} (the outbox scenario: after its
 * ledger row the handler numbers the event in its key's commit order ({@link Ledger#nextInKey}) and
 * publishes {@code <event id>|<key>|<number>} through the outbox table to that topic, and the
 * process runs an {@link OutboxRelay} named after the group, which one process at a time leads),
 * and for share groups {@code lock-timeout-ms}, {@code handler-timeout-ms}, {@code
 * max-abandoned-workers}, {@code hang-ms}, {@code slow-fail-ms} and {@code delivery-limit} (see
 * {@link ShareTimings}).
 *
 * <p>Standard input takes commands, one a line: {@code stop} closes the consumer gracefully and
 * exits with 0; {@code halt-after-commit} makes the process halt right after the next database
 * commit of a new event, before its offset reaches Kafka; {@code halt-relay-after-send} makes it
 * halt right after its relay's next Kafka commit, before the rows are marked sent, and {@code
 * disarm-relay-halt} takes that back. At the end of standard input (the parent went away) the
 * process halts, so no consumer outlives its orchestrator. Standard output carries only
 * machine-readable lines ({@link ChaosProtocol}); logs go to standard error.
 */
public final class ChaosConsumerMain {
  private static final Logger log = LoggerFactory.getLogger(ChaosConsumerMain.class);
  private static final PrintStream OUT = System.out;
  private static final Duration START_TIMEOUT = Duration.ofSeconds(120);
  private static final Duration STATS_LOG_INTERVAL = Duration.ofSeconds(5);

  /**
   * The logging context key under which the share loop keeps the delivery count of the record whose
   * attempt runs on this thread; a handler has no other way to know it.
   */
  private static final String MDC_DELIVERY_COUNT = "idem.delivery_count";

  private final Map<String, String> args;
  private final String instance;
  private final AtomicBoolean haltArmed = new AtomicBoolean();
  private final AtomicBoolean relayHaltArmed = new AtomicBoolean();
  private Outbox outbox;
  private String outboxTopic;
  private volatile OutboxRelay relay;
  private final AtomicLong swallowed = new AtomicLong();
  private final AtomicInteger slowHandlers = new AtomicInteger();
  private final AtomicInteger holdingLast = new AtomicInteger();
  private final long batchDelayMillis;
  private volatile boolean stopping;
  private HikariDataSource pool;
  private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  private volatile Running consumer;

  private ChaosConsumerMain(Map<String, String> args) {
    this.args = args;
    this.instance = required("instance");
    this.batchDelayMillis = Long.parseLong(args.getOrDefault("batch-delay-ms", "0"));
  }

  /** Runs the consumer until {@code stop}, a halt, or the end of standard input. */
  public static void main(String[] argv) {
    Map<String, String> args = new LinkedHashMap<>();
    for (String a : argv) {
      int eq = a.indexOf('=');
      if (eq <= 0) {
        System.err.println("arguments are key=value, got " + a);
        System.exit(2);
      }
      args.put(a.substring(0, eq), a.substring(eq + 1));
    }
    new ChaosConsumerMain(args).run();
  }

  private void run() {
    Thread commands = new Thread(this::readCommands, "chaos-commands");
    commands.setDaemon(true);
    commands.start();
    pool = pool();
    if (args.containsKey("outbox-table")) {
      outbox = Outbox.builder().table(required("outbox-table")).build();
      outboxTopic = required("outbox-topic");
      startRelay();
    }
    startConsumer();
    log.info(
        "consumer {} ready {} ms after the JVM started",
        instance,
        System.currentTimeMillis()
            - java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime());
    emit(ChaosProtocol.READY);
    watch();
  }

  /** Starts the consumer, trying again while the database or the broker is away. */
  private void startConsumer() {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    boolean share = args.getOrDefault("group-type", "consumer").equals("share");
    while (true) {
      Running c = share ? shareConsumer() : groupConsumer();
      try {
        c.start();
        consumer = c;
        return;
      } catch (IdemException e) {
        if (System.nanoTime() > deadline || stopping) {
          log.error("consumer {} could not start", instance, e);
          emit(ChaosProtocol.FAILED + " start: " + e.getMessage());
          Runtime.getRuntime().halt(4);
        }
        log.warn("consumer {} cannot start yet ({}); trying again", instance, e.getMessage());
        sleep(500);
      }
    }
  }

  /** Starts the outbox relay; its leader election retries on its own while the database is away. */
  private void startRelay() {
    AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
    OutboxRelay.Builder builder =
        OutboxRelay.builder(
                outbox,
                pool,
                locks,
                Map.of(
                    "bootstrap.servers",
                    required("bootstrap"),
                    "client.id",
                    "idem-chaos-relay-" + instance))
            .name(required("group"))
            .meterRegistry(meters);
    FaultAccess.afterOutboxSend(builder, this::haltRelayIfArmed);
    OutboxRelay r = builder.build();
    r.start();
    relay = r;
  }

  private void haltRelayIfArmed(int rows) {
    if (relayHaltArmed.compareAndSet(true, false)) {
      emit(ChaosProtocol.HALT + " relay-sent-" + rows + "-rows");
      Runtime.getRuntime().halt(ChaosProtocol.HALT_EXIT_CODE);
    }
  }

  /**
   * Outbox runs: numbers the event in its key's commit order and publishes it, on the handler's
   * transaction.
   */
  private void publish(ProcessingContext ctx, ChaosEvent event) throws java.sql.SQLException {
    if (outbox != null) {
      outbox.publish(ctx, "applied", outboxTopic, key(event), numbered(ctx.connection(), event));
    }
  }

  private static byte[] key(ChaosEvent event) {
    return event.key().getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Takes the event's place in its key's commit order ({@link Ledger#nextInKey}, a write on the
   * handler's transaction) and returns the record value {@code <event id>|<key>|<place>}.
   */
  private static byte[] numbered(java.sql.Connection c, ChaosEvent event)
      throws java.sql.SQLException {
    int place = Ledger.nextInKey(c, event.key());
    return (event.id() + "|" + event.key() + "|" + place).getBytes(StandardCharsets.UTF_8);
  }

  private IdemConfig.Builder config() {
    IdemConfig.Builder config =
        IdemConfig.builder(required("group"))
            .bootstrapServers(required("bootstrap"))
            .topics(required("topics").split(","))
            .concurrency(4)
            .commitInterval(Duration.ofMillis(250))
            .drainTimeout(Duration.ofSeconds(5))
            .lockTimeout(millis("lock-timeout-ms", 5000))
            .handlerTimeout(millis("handler-timeout-ms", 10_000))
            .retry(RetryPolicy.exponential(10, Duration.ofMillis(50), Duration.ofSeconds(1)))
            .batchSize(100)
            .kafka("client.id", "idem-chaos-" + instance)
            .kafka("session.timeout.ms", args.getOrDefault("session-timeout-ms", "6000"))
            .kafka("heartbeat.interval.ms", 1000)
            .kafka("max.poll.records", 200)
            // The retention job's singleton lock runs too, so the end-of-run lock check covers
            // session locks as well as transaction locks.
            .set("consumer.retention.interval", "5s");
    if (mode().equals("grouped")) {
      config.transactionMaxRecords(32);
    }
    if (args.containsKey("max-abandoned-workers")) {
      config.maxAbandonedWorkers(Integer.parseInt(args.get("max-abandoned-workers")));
    }
    return config;
  }

  private Duration millis(String key, long fallback) {
    return Duration.ofMillis(Long.parseLong(args.getOrDefault(key, String.valueOf(fallback))));
  }

  private String mode() {
    return args.getOrDefault("mode", "record");
  }

  private Running groupConsumer() {
    IdemConfig.Builder config = config();
    if (Boolean.parseBoolean(args.getOrDefault("static-membership", "false"))) {
      config.kafka("group.instance.id", staticInstanceId());
    }
    String offsetStore = args.getOrDefault("offset-store", "kafka");
    if (!offsetStore.equals("kafka")) {
      config.set("consumer.offset-store", offsetStore);
    }
    IdempotentConsumer.Builder<ChaosEvent> builder =
        IdempotentConsumer.builder(config.build(), Payloads.json(ChaosEvent.class))
            .dataSource(pool)
            .meterRegistry(meters)
            .eventIds(EventIds.header("webhook-id"));
    if (mode().equals("batch")) {
      builder.batchHandler(this::applyBatch);
    } else {
      builder.handler(this::apply);
    }
    if (mode().equals("grouped")) {
      builder.transactionHook(new SwallowingHook());
    }
    FaultAccess.afterDatabaseCommit(builder, this::haltIfArmed);
    IdempotentConsumer<ChaosEvent> c = builder.build();
    return new Running() {
      @Override
      public void start() {
        c.start();
      }

      @Override
      public ConsumerState state() {
        return c.snapshot().state();
      }

      @Override
      public int assigned() {
        return c.snapshot().assigned().size();
      }

      @Override
      public int inFlight() {
        return c.snapshot().inFlight();
      }

      @Override
      public Counters counters() {
        ConsumerSnapshot s = c.snapshot();
        return new Counters(
            s.processed(),
            s.duplicates(),
            s.failures(),
            s.retries(),
            s.deadLettered(),
            s.skipped(),
            s.rebalances());
      }

      @Override
      public void close() {
        c.close();
      }
    };
  }

  /**
   * A share-group consumer ({@code group-type=share}): every process reads every partition, so it
   * reports no assignment; its counters come from its meters.
   */
  private Running shareConsumer() {
    IdempotentShareConsumer.Builder<ChaosEvent> builder =
        IdempotentShareConsumer.builder(config().build(), Payloads.json(ChaosEvent.class))
            .dataSource(pool)
            .meterRegistry(meters)
            .eventIds(EventIds.header("webhook-id"));
    if (mode().equals("batch")) {
      builder.batchHandler(this::applyBatch);
    } else {
      builder.handler(this::apply);
    }
    if (mode().equals("grouped")) {
      builder.transactionHook(new SwallowingHook());
    }
    FaultAccess.afterDatabaseCommit(builder, this::haltIfArmed);
    IdempotentShareConsumer<ChaosEvent> c = builder.build();
    return new Running() {
      @Override
      public void start() {
        c.start();
      }

      @Override
      public ConsumerState state() {
        return c.health().state();
      }

      @Override
      public int assigned() {
        return 0;
      }

      @Override
      public int inFlight() {
        return c.health().inFlight();
      }

      @Override
      public Counters counters() {
        return new Counters(
            count("idem.records.processed"),
            count("idem.records.duplicates"),
            count("idem.records.failures"),
            count("idem.records.retries"),
            count("idem.records.dead.lettered"),
            0,
            0);
      }

      @Override
      public void close() {
        c.close();
      }
    };
  }

  private long count(String meter) {
    return (long) meters.find(meter).counters().stream().mapToDouble(Counter::count).sum();
  }

  private void apply(ChaosEvent event, ProcessingContext ctx) throws Exception {
    failIfPoison(event);
    Ledger.write(
        ctx.connection(),
        List.of(new Ledger.Entry(event, ctx.topic(), ctx.partition(), ctx.offset(), instance)));
    publish(ctx, event);
    if (event.swallow() && ctx.attempt() == 1) {
      if (mode().equals("grouped") && swallowsInHook(event)) {
        swallowAfterHandler.set(true); // SwallowingHook does it once the handler has returned
      } else {
        swallow(ctx.connection());
      }
    }
    if (event.hang() || event.slowFail()) {
      runSlowHandler(event, ctx);
    }
  }

  /**
   * Runs a hung or slow-failing handler's wait, counted in {@link #slowHandlers}, and in {@link
   * #holdingLast} while it runs on the group's last delivery of its record.
   */
  private void runSlowHandler(ChaosEvent event, ProcessingContext ctx) throws Exception {
    String count = MDC.get(MDC_DELIVERY_COUNT);
    int last =
        count != null && Integer.parseInt(count) >= Integer.parseInt(required("delivery-limit"))
            ? 1
            : 0;
    reportSlowHandlers(1, last);
    try {
      if (event.hang()) {
        hang(event, ctx);
      } else {
        failSlowly(event, ctx);
      }
    } finally {
      reportSlowHandlers(-1, -last);
    }
  }

  private void reportSlowHandlers(int running, int onLastDelivery) {
    synchronized (slowHandlers) {
      emit(
          ChaosProtocol.SLOW_HANDLERS
              + " "
              + slowHandlers.addAndGet(running)
              + " "
              + holdingLast.addAndGet(onLastDelivery));
    }
  }

  /**
   * Blocks for {@code hang-ms}, ignoring interrupts, as a handler stuck in a call without a timeout
   * does, then returns normally: only the watchdog keeps the ledger row from committing.
   */
  private void hang(ChaosEvent event, ProcessingContext ctx) {
    long millis = Long.parseLong(required("hang-ms"));
    log.info(
        "hanging {} ms at {} ({}-{}@{}, attempt {}, delivery {})",
        millis,
        event.id(),
        ctx.topic(),
        ctx.partition(),
        ctx.offset(),
        ctx.attempt(),
        MDC.get(MDC_DELIVERY_COUNT));
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    boolean interrupted = false;
    for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
      try {
        TimeUnit.NANOSECONDS.sleep(left);
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Sleeps past the record's lock for {@code slow-fail-ms}, then fails, to be retried. */
  private void failSlowly(ChaosEvent event, ProcessingContext ctx) throws InterruptedException {
    long millis = Long.parseLong(required("slow-fail-ms"));
    Thread.sleep(millis);
    throw new IllegalStateException(
        "slow-failing event "
            + event.id()
            + " fails after "
            + millis
            + " ms, as on every delivery (attempt "
            + ctx.attempt()
            + ", delivery "
            + MDC.get(MDC_DELIVERY_COUNT)
            + ")");
  }

  /** The host name and the slot of this process ({@code c2} of incarnation {@code c2.3}). */
  private String staticInstanceId() {
    String host = System.getenv("HOSTNAME");
    if (host == null || host.isBlank()) {
      try {
        host = java.net.InetAddress.getLocalHost().getHostName();
      } catch (java.net.UnknownHostException e) {
        host = "localhost";
      }
    }
    int dot = instance.indexOf('.');
    String slot = dot < 0 ? instance : instance.substring(0, dot);
    return (host + "-" + slot).replaceAll("[^a-zA-Z0-9._-]", "_");
  }

  private void applyBatch(List<BatchEvent<ChaosEvent>> events, BatchContext ctx) throws Exception {
    if (batchDelayMillis > 0) {
      Thread.sleep(batchDelayMillis);
    }
    java.sql.Connection connection = ctx.connection();
    int attempt = ctx.attempt();
    List<Ledger.Entry> entries = new ArrayList<>(events.size());
    for (BatchEvent<ChaosEvent> e : events) {
      failIfPoison(e.payload());
      entries.add(new Ledger.Entry(e.payload(), e.topic(), e.partition(), e.offset(), instance));
    }
    Ledger.write(connection, entries);
    if (outbox != null) {
      // publishAll takes the keys' locks in one order: two batches that share keys would
      // otherwise deadlock.
      // The places in commit order are row locks too: taken in key order (stable, so one key's
      // events keep theirs), all before the first outbox lock.
      List<BatchEvent<ChaosEvent>> byKey = new ArrayList<>(events);
      byKey.sort(java.util.Comparator.comparing(e -> e.payload().key()));
      List<dev.idem.consumer.outbox.OutboxRecord> records = new ArrayList<>(events.size());
      for (BatchEvent<ChaosEvent> e : byKey) {
        records.add(
            Outbox.record(
                ctx,
                e,
                "applied",
                outboxTopic,
                key(e.payload()),
                numbered(connection, e.payload())));
      }
      outbox.publishAll(connection, records);
    }
    if (attempt == 1 && events.stream().anyMatch(e -> e.payload().swallow())) {
      swallow(connection);
    }
  }

  /**
   * Grouped runs: whether {@code event}'s first attempt swallows its SQL error in the transaction
   * hook's after-handler step (a careless before-commit callback) rather than in the handler; half
   * the swallowing events, chosen by their id so that every process agrees.
   */
  private static boolean swallowsInHook(ChaosEvent event) {
    return (event.id().hashCode() & 1) == 0;
  }

  /** Set by the handler for {@link SwallowingHook}, on the worker thread. */
  private final ThreadLocal<Boolean> swallowAfterHandler = ThreadLocal.withInitial(() -> false);

  /**
   * A transaction hook with a careless before-commit step: after the handler of a record that asked
   * for it, it runs a failing statement on the transaction's connection and swallows the error,
   * leaving the transaction aborted. idem must fail that record alone and retry it, and lose
   * nothing of the records before it in the grouped transaction.
   */
  private final class SwallowingHook implements TransactionHook {
    private final ThreadLocal<java.sql.Connection> connection = new ThreadLocal<>();

    @Override
    public void beforeHandler(String consumerName, java.sql.Connection c) {
      connection.set(c);
      swallowAfterHandler.set(false);
    }

    @Override
    public void afterHandler() throws java.sql.SQLException {
      if (swallowAfterHandler.get()) {
        swallowAfterHandler.set(false);
        swallow(connection.get());
      }
    }

    @Override
    public void handlerFailed() {
      swallowAfterHandler.set(false);
    }

    @Override
    public void afterCompletion(boolean committed) {
      connection.remove();
    }
  }

  /** The careless part of the handler: an SQL error caught after the writes. */
  private void swallow(java.sql.Connection connection) throws java.sql.SQLException {
    CarelessStatement.runAndSwallow(connection);
    swallowed.incrementAndGet();
  }

  private static void failIfPoison(ChaosEvent event) {
    if (event.poison()) {
      throw new NonRetryableException("poison event " + event.id());
    }
  }

  private void haltIfArmed(ConsumerRecord<byte[], byte[]> record) {
    // Not while a hung or slow-failing record is on its last delivery here: the broker would
    // archive it with no trace, which tests Kafka's rule rather than idem.
    if (holdingLast.get() == 0 && haltArmed.compareAndSet(true, false)) {
      emit(
          ChaosProtocol.HALT
              + " "
              + record.topic()
              + "-"
              + record.partition()
              + "@"
              + record.offset());
      Runtime.getRuntime().halt(ChaosProtocol.HALT_EXIT_CODE);
    }
  }

  private HikariDataSource pool() {
    HikariConfig h = new HikariConfig();
    String url = required("jdbc");
    // In the URL rather than as pool properties, so that the retention job's own connections
    // (opened from the pool's URL) carry them too. The application name lets the orchestrator find
    // the consumers' sessions; the socket timeout turns a reply that never comes (a dropped COMMIT
    // reply) into an error instead of a hang.
    h.setJdbcUrl(
        url
            + (url.contains("?") ? "&" : "?")
            + "ApplicationName="
            + required("application")
            + "&socketTimeout=20&tcpKeepAlive=true");
    h.setUsername(args.getOrDefault("user", "postgres"));
    h.setPassword(args.getOrDefault("password", ""));
    h.setMaximumPoolSize(7);
    h.setMinimumIdle(2);
    h.setConnectionTimeout(3000);
    h.setValidationTimeout(1000);
    // The process may start while the database is down; the consumer's start retries.
    h.setInitializationFailTimeout(-1);
    h.setPoolName("chaos-" + instance);
    return new HikariDataSource(h);
  }

  /** Reports assignments and counters until the consumer stops. */
  private void watch() {
    String lastAssigned = null;
    String lastStats = null;
    long lastLogged = 0;
    while (true) {
      Running r = consumer;
      Counters s = r.counters();
      if (r.state() == ConsumerState.FAILED && !stopping) {
        emit(ChaosProtocol.FAILED + " the poll loop stopped");
        Runtime.getRuntime().halt(4);
      }
      String assigned = ChaosProtocol.ASSIGNED + " " + r.assigned();
      if (!assigned.equals(lastAssigned)) {
        emit(assigned);
        lastAssigned = assigned;
      }
      String stats =
          ChaosProtocol.STATS
              + " processed="
              + s.processed()
              + " duplicates="
              + s.duplicates()
              + " failures="
              + s.failures()
              + " retries="
              + s.retries()
              + " dead-lettered="
              + s.deadLettered()
              + " skipped="
              + s.skipped()
              + " rebalances="
              + s.rebalances()
              + " swallowed="
              + swallowed.get()
              + " relay-leader="
              + (relay != null && relay.isLeader() ? 1 : 0)
              + " abandoned="
              + count("idem.workers.abandoned");
      if (!stats.equals(lastStats)) {
        emit(stats);
        lastStats = stats;
        if (System.nanoTime() - lastLogged > STATS_LOG_INTERVAL.toNanos()) {
          log.info("{} assigned={} in-flight={}", stats, r.assigned(), r.inFlight());
          lastLogged = System.nanoTime();
        }
      }
      sleep(200);
    }
  }

  private void readCommands() {
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        switch (line.trim()) {
          case ChaosProtocol.CMD_STOP -> stop();
          case ChaosProtocol.CMD_HALT_AFTER_COMMIT -> {
            haltArmed.set(true);
            log.warn("armed: halting after the next database commit");
          }
          case ChaosProtocol.CMD_HALT_RELAY_AFTER_SEND -> {
            relayHaltArmed.set(true);
            log.warn("armed: halting after the relay's next Kafka commit");
          }
          case ChaosProtocol.CMD_DISARM_RELAY_HALT -> relayHaltArmed.set(false);
          default -> log.warn("unknown command '{}'", line);
        }
      }
    } catch (IOException e) {
      // Same as the end of input.
    }
    // The orchestrator is gone: leave nothing behind.
    Runtime.getRuntime().halt(3);
  }

  private void stop() {
    stopping = true;
    Running c = consumer;
    if (c != null) {
      c.close();
    }
    OutboxRelay r = relay;
    if (r != null) {
      r.close();
    }
    pool.close();
    emit(ChaosProtocol.STOPPED);
    OUT.flush();
    Runtime.getRuntime().halt(0);
  }

  private String required(String key) {
    String v = args.get(key);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException("argument " + key + "= is missing");
    }
    return v;
  }

  private static synchronized void emit(String line) {
    OUT.println(line);
    OUT.flush();
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A started consumer of either kind, as the watch loop sees it. */
  private interface Running {
    void start();

    ConsumerState state();

    /** Partitions assigned to this process (a share consumer has none to show). */
    int assigned();

    int inFlight();

    Counters counters();

    void close();
  }

  /** The figures a stats line reports. */
  private record Counters(
      long processed,
      long duplicates,
      long failures,
      long retries,
      long deadLettered,
      long skipped,
      long rebalances) {}
}
