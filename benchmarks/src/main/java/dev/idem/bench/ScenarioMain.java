package dev.idem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.IdempotentShareConsumer;
import dev.idem.consumer.OffsetStore;
import dev.idem.consumer.PayloadDeserializer;
import dev.idem.consumer.Payloads;
import dev.idem.consumer.TransactionStateCheck;
import dev.idem.consumer.outbox.Outbox;
import dev.idem.consumer.outbox.OutboxRecord;
import dev.idem.consumer.outbox.OutboxRelay;
import dev.idem.example.webhook.LedgerHandler;
import dev.idem.example.webhook.PaymentEvent;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import dev.idem.lock.LockKey;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One scenario in its own JVM (started with {@code -Xmx256m} by the harness), so that heap and CPU
 * are the consumer's alone. Prints one line {@code RESULT {json}}.
 *
 * <p>Over 400 lines: every scenario's consumer loop is here side by side, so that a reader compares
 * what each one does per record in one file.
 */
public final class ScenarioMain {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Records per transaction of the grouped scenarios: the documented recommendation. */
  static final int GROUPED_RECORDS = 32;

  private ScenarioMain() {}

  /**
   * How an idem scenario runs: batch or per-record handler, where offsets are stored, the check of
   * the handler's transaction, and records per transaction of a per-record handler (grouped above
   * 1).
   */
  record IdemMode(
      boolean batch,
      OffsetStore offsets,
      TransactionStateCheck stateCheck,
      int maxRecords,
      boolean traced) {
    static final IdemMode RECORD =
        new IdemMode(false, OffsetStore.KAFKA, TransactionStateCheck.DRIVER, 1, false);
    static final IdemMode RECORD_QUERY_CHECK =
        new IdemMode(false, OffsetStore.KAFKA, TransactionStateCheck.QUERY, 1, false);
    static final IdemMode BATCH =
        new IdemMode(true, OffsetStore.KAFKA, TransactionStateCheck.DRIVER, 1, false);
    static final IdemMode GROUPED =
        new IdemMode(
            false, OffsetStore.KAFKA, TransactionStateCheck.DRIVER, GROUPED_RECORDS, false);
    static final IdemMode RECORD_PG_OFFSETS =
        new IdemMode(false, OffsetStore.POSTGRESQL, TransactionStateCheck.DRIVER, 1, false);
    static final IdemMode BATCH_PG_OFFSETS =
        new IdemMode(true, OffsetStore.POSTGRESQL, TransactionStateCheck.DRIVER, 1, false);
    static final IdemMode RECORD_TRACED =
        new IdemMode(false, OffsetStore.KAFKA, TransactionStateCheck.DRIVER, 1, true);
    static final IdemMode BATCH_TRACED =
        new IdemMode(true, OffsetStore.KAFKA, TransactionStateCheck.DRIVER, 1, true);
  }

  /**
   * What a scenario's consumer applies: how it reads a payload, and its per-record and batch
   * handlers (the mode picks one).
   */
  record Handlers<T>(
      PayloadDeserializer<T> payloads, EventHandler<T> perRecord, BatchHandler<T> batch) {}

  public static void main(String[] args) throws Exception {
    Settings s = Settings.fromArgs(args);
    ObjectNode result = JSON.createObjectNode();
    result.put("scenario", s.scenario());
    try (Connection stats = Boolean.getBoolean(Profiler.RESET_PROPERTY) ? connect(s) : null;
        Measure m = new Measure(ServerCpu.of(s.servers()), () -> resetStatements(stats))) {
      ObjectNode breakdown = result.putObject("meanMicros");
      switch (s.scenario()) {
        case "raw" -> raw(s, m);
        case "naive" -> naive(s, m);
        case "idem-record" -> idem(s, m, IdemMode.RECORD, null, breakdown, ledger(s));
        case "idem-record-query-check" ->
            idem(s, m, IdemMode.RECORD_QUERY_CHECK, null, breakdown, ledger(s));
        case "idem-batch" -> idem(s, m, IdemMode.BATCH, null, breakdown, ledger(s));
        case "idem-record-traced" -> idem(s, m, IdemMode.RECORD_TRACED, null, breakdown, ledger(s));
        case "idem-batch-traced" -> idem(s, m, IdemMode.BATCH_TRACED, null, breakdown, ledger(s));
        case "idem-grouped" -> idem(s, m, IdemMode.GROUPED, null, breakdown, ledger(s));
        case "idem-record-outbox" -> withOutbox(s, m, IdemMode.RECORD, breakdown);
        case "idem-batch-outbox" -> withOutbox(s, m, IdemMode.BATCH, breakdown);
        case "idem-record-pg-offsets" ->
            idem(s, m, IdemMode.RECORD_PG_OFFSETS, null, breakdown, ledger(s));
        case "idem-batch-pg-offsets" ->
            idem(s, m, IdemMode.BATCH_PG_OFFSETS, null, breakdown, ledger(s));
        case "webhook-record" -> idem(s, m, IdemMode.RECORD, null, breakdown, webhooks());
        case "webhook-grouped" -> idem(s, m, IdemMode.GROUPED, null, breakdown, webhooks());
        case "webhook-batch" -> idem(s, m, IdemMode.BATCH, null, breakdown, webhooks());
        case "group-1p" -> idem(s, m, IdemMode.RECORD, null, breakdown, ledger(s));
        case "share-1" -> share(s, m, 1, ledger(s));
        case "share-2" -> share(s, m, 2, ledger(s));
        case "share-4" -> share(s, m, 4, ledger(s));
        case "jdbc" -> jdbc(s, m);
        case "latency-record" -> latency(s, m, IdemMode.RECORD, result);
        case "latency-grouped" -> latency(s, m, IdemMode.GROUPED, result);
        case "latency-batch" -> latency(s, m, IdemMode.BATCH, result);
        default -> throw new IllegalArgumentException("unknown scenario " + s.scenario());
      }
      result.put("seconds", m.seconds());
      result.put("eventsPerSecond", s.events() / m.seconds());
      result.put("cpu", m.cpu());
      result.put("cpuMicrosPerEvent", m.cpuSeconds() * 1e6 / s.events());
      double secondHalf = m.secondHalfCpuSeconds();
      // Over the records of the second half, the later of the two halves.
      result.put(
          "steadyCpuMicrosPerEvent",
          secondHalf < 0 ? -1 : secondHalf * 1e6 / (s.events() - s.events() / 2));
      double server = m.serverCpuSeconds();
      result.put("serverMicrosPerEvent", server < 0 ? -1 : server * 1e6 / s.events());
      result.put("serverCores", server < 0 ? -1 : server / m.seconds());
      result.put("peakHeapMb", m.peakHeapBytes() / (1024.0 * 1024.0));
      result.put("windowStartMs", m.firstEpochMillis());
      result.put("windowEndMs", m.endEpochMillis());
    }
    System.out.println("RESULT " + result);
    System.out.flush();
    System.exit(0);
  }

  /**
   * Profiling runs only: forgets the server's statement statistics at the first record, on a
   * connection opened before it.
   */
  private static void resetStatements(Connection stats) {
    if (stats == null) {
      return;
    }
    try (Statement st = stats.createStatement()) {
      st.execute("SELECT pg_stat_statements_reset()");
    } catch (SQLException e) {
      throw new IllegalStateException("cannot reset pg_stat_statements", e);
    }
  }

  private static Map<String, Object> consumerProps(Settings s, String group) {
    return Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, s.bootstrap(),
        ConsumerConfig.GROUP_ID_CONFIG, group,
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
        ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
  }

  /** (1) The ceiling: a raw consumer draining the topic, no database. */
  private static void raw(Settings s, Measure m) {
    long seen = 0;
    long checksum = 0;
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(
            consumerProps(s, s.consumerName()),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      c.subscribe(List.of(s.topic()));
      while (seen < s.events()) {
        ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(100));
        if (!records.isEmpty()) {
          m.first();
        }
        for (ConsumerRecord<byte[], byte[]> r : records) {
          checksum += r.value().length;
          seen++;
        }
      }
    }
    m.end();
    if (checksum == 0) {
      throw new IllegalStateException("empty records");
    }
  }

  /**
   * (2) The pattern as people write it: one transaction per record (lock, check, mark, ledger
   * write) and a synchronous offset commit per poll, one consumer and one connection per thread.
   */
  private static void naive(Settings s, Measure m) throws Exception {
    AtomicLong handled = new AtomicLong();
    ExecutorService threads = Executors.newFixedThreadPool(s.threads());
    List<Future<?>> loops = new ArrayList<>();
    for (int t = 0; t < s.threads(); t++) {
      loops.add(
          threads.submit(
              () -> {
                try (KafkaConsumer<byte[], byte[]> c =
                        new KafkaConsumer<>(
                            consumerProps(s, s.consumerName()),
                            new ByteArrayDeserializer(),
                            new ByteArrayDeserializer());
                    Connection db = connect(s)) {
                  db.setAutoCommit(false);
                  c.subscribe(List.of(s.topic()));
                  String processed = s.prefix() + "_naive_processed";
                  while (handled.get() < s.events()) {
                    ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(100));
                    if (records.isEmpty()) {
                      continue;
                    }
                    m.first();
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                      String id =
                          new String(
                              r.headers().lastHeader("webhook-id").value(), StandardCharsets.UTF_8);
                      try (PreparedStatement lock =
                          db.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
                        lock.setLong(1, LockKey.hash(s.consumerName(), id));
                        lock.execute();
                      }
                      boolean seen;
                      try (PreparedStatement check =
                          db.prepareStatement(
                              "SELECT 1 FROM " + processed + " WHERE event_id = ?")) {
                        check.setString(1, id);
                        try (ResultSet rs = check.executeQuery()) {
                          seen = rs.next();
                        }
                      }
                      if (!seen) {
                        try (PreparedStatement mark =
                            db.prepareStatement("INSERT INTO " + processed + " VALUES (?)")) {
                          mark.setString(1, id);
                          mark.executeUpdate();
                        }
                        writeLedger(db, s.ledger(), id, r.value());
                      }
                      db.commit();
                      if (handled.incrementAndGet() == s.events() / 2) {
                        m.half();
                      }
                    }
                    c.commitSync();
                  }
                }
                return null;
              }));
    }
    for (Future<?> f : loops) {
      f.get();
    }
    m.end();
    threads.shutdown();
  }

  private static void writeLedger(Connection db, String ledger, String id, byte[] value)
      throws SQLException {
    String[] parts = new String(value, StandardCharsets.UTF_8).split(":");
    try (PreparedStatement ps =
        db.prepareStatement(
            "INSERT INTO " + ledger + " (event_id, account, amount) VALUES (?, ?, ?)")) {
      ps.setString(1, id);
      ps.setString(2, parts[0]);
      ps.setInt(3, Integer.parseInt(parts[1]));
      ps.executeUpdate();
    }
  }

  /** The synthetic workload's handlers: one small ledger insert per new event. */
  private static Handlers<String> ledger(Settings s) {
    String ledger = s.ledger();
    return new Handlers<>(
        Payloads.utf8(),
        (payload, ctx) ->
            writeLedger(
                ctx.connection(), ledger, ctx.eventId(), payload.getBytes(StandardCharsets.UTF_8)),
        (events, ctx) -> {
          try (PreparedStatement ps =
              ctx.connection()
                  .prepareStatement(
                      "INSERT INTO " + ledger + " (event_id, account, amount) VALUES (?, ?, ?)")) {
            for (BatchEvent<String> e : events) {
              String[] parts = e.payload().split(":");
              ps.setString(1, e.eventId());
              ps.setString(2, parts[0]);
              ps.setInt(3, Integer.parseInt(parts[1]));
              ps.addBatch();
            }
            ps.executeBatch();
          }
        });
  }

  /**
   * The ledger handlers, each event also published through the outbox (consume, update, produce),
   * with the relay sending to the topic {@code <consumer name>_out} in this JVM on a pool of its
   * own; the scenario ends when the consumer is done, and checks that every event's outbox row was
   * written.
   */
  private static void withOutbox(Settings s, Measure m, IdemMode mode, ObjectNode breakdown)
      throws Exception {
    String out = s.consumerName() + "_out";
    TestInfrastructure.createTopics(s.bootstrap(), s.partitions(), Map.of(), out);
    Outbox outbox = Outbox.builder().table(s.consumerName() + "_outbox").build();
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(s.pgUrl());
    c.setUsername(s.pgUser());
    c.setPassword(s.pgPassword());
    c.setMaximumPoolSize(3);
    c.setPoolName("bench-relay");
    try (HikariDataSource relayPool = new HikariDataSource(c)) {
      outbox.applySchema(relayPool);
      AdvisoryLocks locks =
          AdvisoryLocks.builder(ConnectionFactory.sameServerAs(relayPool)).build();
      try (OutboxRelay relay =
          OutboxRelay.builder(outbox, relayPool, locks, Map.of("bootstrap.servers", s.bootstrap()))
              .name(s.consumerName())
              .build()) {
        relay.start();
        Handlers<String> ledger = ledger(s);
        byte[] none = new byte[0];
        idem(
            s,
            m,
            mode,
            null,
            breakdown,
            new Handlers<>(
                ledger.payloads(),
                (payload, ctx) -> {
                  ledger.perRecord().handle(payload, ctx);
                  outbox.publish(ctx, "applied", out, ctx.key(), none);
                },
                (events, ctx) -> {
                  ledger.batch().handle(events, ctx);
                  // publishAll takes the keys' locks in one order: batches that share keys
                  // (records land on random partitions here) would otherwise deadlock.
                  List<OutboxRecord> records = new ArrayList<>(events.size());
                  for (BatchEvent<String> e : events) {
                    records.add(Outbox.record(ctx, e, "applied", out, e.key(), none));
                  }
                  outbox.publishAll(ctx.connection(), records);
                }));
      }
      try (Connection db = relayPool.getConnection();
          Statement st = db.createStatement();
          ResultSet rs =
              st.executeQuery(
                  "SELECT (SELECT count(*) FROM idem."
                      + outbox.table()
                      + "), (SELECT count(*) FROM "
                      + s.ledger()
                      + ")")) {
        rs.next();
        System.out.printf("%d outbox rows for %d ledger rows%n", rs.getLong(1), rs.getLong(2));
        if (rs.getLong(1) != rs.getLong(2)) {
          throw new IllegalStateException(
              rs.getLong(1) + " outbox rows for " + rs.getLong(2) + " ledger rows");
        }
      }
    }
  }

  /**
   * The webhook example's handler (ledger entry and balance upsert per event), its payload parser,
   * and a batch variant with the same SQL effect (the example has none).
   */
  private static Handlers<PaymentEvent> webhooks() {
    return new Handlers<>(
        record -> PaymentEvent.parse(record.value()),
        new LedgerHandler(),
        new WebhookBatchHandler());
  }

  /**
   * (3), (4) and the webhook scenarios: idem in {@code mode}, concurrency = threads. With a {@code
   * probe}, it says READY once it owns every partition, and samples latency.
   */
  private static <T> void idem(
      Settings s,
      Measure m,
      IdemMode mode,
      LatencyProbe probe,
      ObjectNode breakdown,
      Handlers<T> handlers)
      throws Exception {
    try (HikariDataSource pool = pool(s)) {
      DataSource ds = probe == null ? pool : probe.wrap(pool);
      IdemConfig config =
          IdemConfig.builder(s.consumerName())
              .bootstrapServers(s.bootstrap())
              .topics(s.topic())
              .concurrency(s.threads())
              .batchSize(s.batchSize())
              // Batch mode wants whole batches per partition from each poll.
              .kafka("max.poll.records", mode.batch() ? s.batchSize() * s.partitions() : 500)
              // Room for two batches per partition (the default per-partition bound) and a
              // poll, so each partition has its next batch queued while one commits.
              .maxInFlight(
                  Math.max(
                      2000, 2 * s.batchSize() * s.partitions() + s.batchSize() * s.partitions()))
              .commitInterval(Duration.ofMillis(500))
              .retentionWindow(null)
              .offsetStore(mode.offsets())
              .transactionStateCheck(mode.stateCheck())
              .transactionMaxRecords(mode.maxRecords())
              .build();
      IdempotentConsumer.Builder<T> b =
          IdempotentConsumer.builder(config, handlers.payloads())
              .dataSource(ds)
              .eventIds(EventIds.header("webhook-id"));
      if (mode.batch()) {
        BatchHandler<T> batch = handlers.batch();
        b.batchHandler(
            (events, ctx) -> {
              m.first();
              batch.handle(events, ctx);
              if (probe != null) {
                for (BatchEvent<T> e : events) {
                  probe.pending(e.headers());
                }
              }
            });
      } else {
        EventHandler<T> handler = handlers.perRecord();
        b.handler(
            (payload, ctx) -> {
              m.first();
              handler.handle(payload, ctx);
              if (probe != null) {
                probe.pending(ctx.headers());
              }
            });
      }
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      b.meterRegistry(registry);
      TracedRegistry traced = mode.traced() ? new TracedRegistry() : null;
      if (traced != null) {
        b.observationRegistry(traced.registry());
      }
      try (IdempotentConsumer<T> consumer = b.build()) {
        consumer.start();
        if (probe != null) {
          // The load generator starts once the consumer owns its partitions.
          while (consumer.snapshot().assigned().size() < s.partitions()) {
            Thread.sleep(20);
          }
          System.out.println("READY");
          System.out.flush();
        }
        long done;
        while ((done = consumer.snapshot().processed() + consumer.snapshot().duplicates())
            < s.events()) {
          if (done >= s.events() / 2) {
            m.half();
          }
          Thread.sleep(5);
        }
        m.end();
      } finally {
        if (traced != null) {
          long spans = traced.exported();
          traced.close();
          System.out.printf("%d spans exported%n", spans);
          if (spans < s.events() / (mode.batch() ? s.batchSize() * 2L : 1)) {
            throw new IllegalStateException(
                "tracing was not on: " + spans + " spans for " + s.events() + " records");
          }
        }
      }
      if (breakdown != null) {
        for (String timer :
            List.of("idem.transaction.time", "idem.lock.wait", "idem.handler.time")) {
          Timer t = registry.find(timer).timer();
          if (t != null) {
            breakdown.put(timer, t.mean(TimeUnit.MICROSECONDS));
          }
        }
      }
    }
  }

  /**
   * Share groups: {@code instances} share consumers in one group (in this JVM, each with {@code
   * threads} workers, as separate instances would be), the per-record ledger handler, on the
   * one-partition topic; done when the instances together processed or skipped every record.
   */
  private static void share(Settings s, Measure m, int instances, Handlers<String> handlers)
      throws Exception {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(s.pgUrl());
    c.setUsername(s.pgUser());
    c.setPassword(s.pgPassword());
    c.setMaximumPoolSize(instances * (s.threads() + 2));
    c.setPoolName("bench-share");
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    List<IdempotentShareConsumer<String>> consumers = new ArrayList<>();
    try (HikariDataSource pool = new HikariDataSource(c)) {
      IdemConfig config =
          IdemConfig.builder(s.consumerName())
              .bootstrapServers(s.bootstrap())
              .topics(s.topic())
              .concurrency(s.threads())
              .retentionWindow(null)
              .build();
      EventHandler<String> handler = handlers.perRecord();
      try {
        for (int i = 0; i < instances; i++) {
          IdempotentShareConsumer<String> consumer =
              IdempotentShareConsumer.builder(config, handlers.payloads())
                  .dataSource(pool)
                  .eventIds(EventIds.header("webhook-id"))
                  .meterRegistry(registry)
                  .handler(
                      (payload, ctx) -> {
                        m.first();
                        handler.handle(payload, ctx);
                      })
                  .build();
          consumers.add(consumer);
          consumer.start();
        }
        double done;
        while ((done =
                count(registry, "idem.records.processed")
                    + count(registry, "idem.records.duplicates"))
            < s.events()) {
          if (done >= s.events() / 2.0) {
            m.half();
          }
          Thread.sleep(5);
        }
        m.end();
      } finally {
        consumers.forEach(IdempotentShareConsumer::close);
      }
    }
  }

  private static double count(SimpleMeterRegistry registry, String counter) {
    return registry.find(counter).counters().stream()
        .mapToDouble(io.micrometer.core.instrument.Counter::count)
        .sum();
  }

  /**
   * (5) The JDBC ceiling: the same lock-check-mark-ledger SQL as batch mode, batches of {@code
   * batch} records, one connection per thread, records already in memory, no Kafka.
   */
  private static void jdbc(Settings s, Measure m) throws Exception {
    Workload w = new Workload(s.events(), s.partitions());
    String processed = s.prefix() + "_jdbc_processed";
    ExecutorService threads = Executors.newFixedThreadPool(s.threads());
    List<Future<?>> work = new ArrayList<>();
    m.first();
    for (int t = 0; t < s.threads(); t++) {
      int thread = t;
      work.add(
          threads.submit(
              () -> {
                try (Connection db = connect(s)) {
                  db.setAutoCommit(false);
                  List<Integer> mine = new ArrayList<>();
                  for (int i = 0; i < w.events; i++) {
                    if (w.partition[i] % s.threads() == thread) {
                      mine.add(i);
                    }
                  }
                  for (int from = 0; from < mine.size(); from += s.batchSize()) {
                    List<Integer> chunk =
                        mine.subList(from, Math.min(mine.size(), from + s.batchSize()));
                    jdbcBatch(db, s, w, chunk, processed);
                  }
                }
                return null;
              }));
    }
    for (Future<?> f : work) {
      f.get();
    }
    m.end();
    threads.shutdown();
  }

  private static void jdbcBatch(
      Connection db, Settings s, Workload w, List<Integer> chunk, String processed)
      throws SQLException {
    try (Statement st = db.createStatement()) {
      st.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    }
    List<String> ids = new ArrayList<>();
    for (int i : chunk) {
      if (!ids.contains(w.ids[i])) {
        ids.add(w.ids[i]);
      }
    }
    Long[] keys =
        ids.stream()
            .map(id -> LockKey.hash(s.consumerName(), id))
            .sorted()
            .distinct()
            .toArray(Long[]::new);
    try (PreparedStatement lock =
        db.prepareStatement("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(?::bigint[]) k")) {
      lock.setArray(1, db.createArrayOf("int8", keys));
      lock.execute();
    }
    List<String> fresh = new ArrayList<>();
    try (PreparedStatement mark =
        db.prepareStatement(
            "INSERT INTO "
                + processed
                + " SELECT unnest(?::text[])"
                + " ON CONFLICT DO NOTHING RETURNING event_id")) {
      mark.setArray(1, db.createArrayOf("text", ids.toArray()));
      try (ResultSet rs = mark.executeQuery()) {
        while (rs.next()) {
          fresh.add(rs.getString(1));
        }
      }
    }
    try (PreparedStatement ps =
        db.prepareStatement(
            "INSERT INTO " + s.ledger() + " (event_id, account, amount) VALUES (?, ?, ?)")) {
      for (int i : chunk) {
        if (fresh.remove(w.ids[i])) {
          ps.setString(1, w.ids[i]);
          ps.setString(2, w.account[i]);
          ps.setInt(3, w.amount[i]);
          ps.addBatch();
        }
      }
      ps.executeBatch();
    }
    db.commit();
  }

  /**
   * Steady load: a load generator in its own JVM produces at a fixed rate once this consumer says
   * READY; latency is from its send to the commit that applied the event.
   */
  private static void latency(Settings s, Measure m, IdemMode mode, ObjectNode result)
      throws Exception {
    LatencyProbe probe = new LatencyProbe();
    idem(s, m, mode, probe, null, ledger(s));
    probe.report(result);
    result.put("rate", s.latencyRate());
  }

  static Connection connect(Settings s) throws SQLException {
    return java.sql.DriverManager.getConnection(s.pgUrl(), s.pgUser(), s.pgPassword());
  }

  private static HikariDataSource pool(Settings s) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(s.pgUrl());
    c.setUsername(s.pgUser());
    c.setPassword(s.pgPassword());
    c.setMaximumPoolSize(s.threads() + 2);
    c.setPoolName("bench");
    return new HikariDataSource(c);
  }
}
