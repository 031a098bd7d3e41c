package dev.idem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.OffsetStore;
import dev.idem.consumer.Payloads;
import dev.idem.consumer.ProcessingContext;
import dev.idem.consumer.TransactionStateCheck;
import dev.idem.lock.LockKey;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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

  /** Records per transaction of the grouped scenario: the documented recommendation. */
  static final int GROUPED_RECORDS = 32;

  private ScenarioMain() {}

  public static void main(String[] args) throws Exception {
    Settings s = Settings.fromArgs(args);
    ObjectNode result = JSON.createObjectNode();
    result.put("scenario", s.scenario());
    try (Measure m = new Measure()) {
      switch (s.scenario()) {
        case "raw" -> raw(s, m);
        case "naive" -> naive(s, m);
        case "idem-record" -> idem(s, m, false, false, null, result.putObject("meanMicros"));
        case "idem-record-query-check" ->
            idem(
                s,
                m,
                false,
                false,
                null,
                result.putObject("meanMicros"),
                TransactionStateCheck.QUERY,
                1);
        case "idem-batch" -> idem(s, m, true, false, null, result.putObject("meanMicros"));
        case "idem-grouped" ->
            idem(
                s,
                m,
                false,
                false,
                null,
                result.putObject("meanMicros"),
                TransactionStateCheck.DRIVER,
                GROUPED_RECORDS);
        case "idem-record-pg-offsets" ->
            idem(s, m, false, true, null, result.putObject("meanMicros"));
        case "idem-batch-pg-offsets" ->
            idem(s, m, true, true, null, result.putObject("meanMicros"));
        case "jdbc" -> jdbc(s, m);
        case "latency-record" -> latency(s, m, false, result);
        case "latency-batch" -> latency(s, m, true, result);
        default -> throw new IllegalArgumentException("unknown scenario " + s.scenario());
      }
      result.put("seconds", m.seconds());
      result.put("eventsPerSecond", s.events() / m.seconds());
      result.put("cpu", m.cpu());
      result.put("peakHeapMb", m.peakHeapBytes() / (1024.0 * 1024.0));
    }
    System.out.println("RESULT " + result);
    System.out.flush();
    System.exit(0);
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
                      handled.incrementAndGet();
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

  /** (3) and (4): idem per record and in batch mode, concurrency = threads. */
  private static void idem(
      Settings s,
      Measure m,
      boolean batch,
      boolean offsetsInDatabase,
      LatencyProbe probe,
      ObjectNode breakdown)
      throws Exception {
    idem(s, m, batch, offsetsInDatabase, probe, breakdown, TransactionStateCheck.DRIVER, 1);
  }

  /**
   * idem's per-record or batch mode, with the given check of the handler's transaction; a
   * per-record handler applies {@code maxRecords} records per transaction (grouped mode above 1).
   */
  private static void idem(
      Settings s,
      Measure m,
      boolean batch,
      boolean offsetsInDatabase,
      LatencyProbe probe,
      ObjectNode breakdown,
      TransactionStateCheck stateCheck,
      int maxRecords)
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
              .kafka("max.poll.records", batch ? s.batchSize() * s.partitions() : 500)
              .maxInFlight(Math.max(2000, 2 * s.batchSize() * s.partitions()))
              .commitInterval(Duration.ofMillis(500))
              .retentionWindow(null)
              .offsetStore(offsetsInDatabase ? OffsetStore.POSTGRESQL : OffsetStore.KAFKA)
              .transactionStateCheck(stateCheck)
              .transactionMaxRecords(maxRecords)
              .build();
      IdempotentConsumer.Builder<String> b =
          IdempotentConsumer.builder(config, Payloads.utf8())
              .dataSource(ds)
              .eventIds(EventIds.header("webhook-id"));
      String ledger = s.ledger();
      if (batch) {
        b.batchHandler(
            (events, ctx) -> {
              m.first();
              try (PreparedStatement ps =
                  ctx.connection()
                      .prepareStatement(
                          "INSERT INTO "
                              + ledger
                              + " (event_id, account, amount) VALUES (?, ?, ?)")) {
                for (BatchEvent<String> e : events) {
                  String[] parts = e.payload().split(":");
                  ps.setString(1, e.eventId());
                  ps.setString(2, parts[0]);
                  ps.setInt(3, Integer.parseInt(parts[1]));
                  ps.addBatch();
                  if (probe != null) {
                    probe.pending(e.headers());
                  }
                }
                ps.executeBatch();
              }
            });
      } else {
        b.handler(
            (String payload, ProcessingContext ctx) -> {
              m.first();
              writeLedger(
                  ctx.connection(),
                  ledger,
                  ctx.eventId(),
                  payload.getBytes(StandardCharsets.UTF_8));
              if (probe != null) {
                probe.pending(ctx.headers());
              }
            });
      }
      io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
          new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
      b.meterRegistry(registry);
      try (IdempotentConsumer<String> consumer = b.build()) {
        consumer.start();
        if (probe != null) {
          // The harness produces the steady load once the consumer owns its partitions.
          while (consumer.snapshot().assigned().size() < s.partitions()) {
            Thread.sleep(20);
          }
          System.out.println("READY");
          System.out.flush();
        }
        while (consumer.snapshot().processed() + consumer.snapshot().duplicates() < s.events()) {
          Thread.sleep(5);
        }
        m.end();
      }
      if (breakdown != null) {
        for (String timer :
            List.of("idem.transaction.time", "idem.lock.wait", "idem.handler.time")) {
          io.micrometer.core.instrument.Timer t = registry.find(timer).timer();
          if (t != null) {
            breakdown.put(timer, t.mean(java.util.concurrent.TimeUnit.MICROSECONDS));
          }
        }
      }
    }
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

  /** Steady load: the harness produces at a fixed rate; latency is record time to commit. */
  private static void latency(Settings s, Measure m, boolean batch, ObjectNode result)
      throws Exception {
    LatencyProbe probe = new LatencyProbe(s.events());
    idem(s, m, batch, false, probe, null);
    long[] sorted = probe.sortedMillis();
    result.put("samples", sorted.length);
    result.put("p50Ms", percentile(sorted, 0.50));
    result.put("p99Ms", percentile(sorted, 0.99));
    result.put("rate", s.latencyRate());
  }

  private static long percentile(long[] sorted, double p) {
    if (sorted.length == 0) {
      return -1;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
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

  /**
   * Records, per new event, the time from its record timestamp (set by the producer) to the commit
   * of the transaction that applied it: the handler notes the timestamps, the wrapped connection
   * reads the clock right after {@code commit()} returns.
   */
  static final class LatencyProbe {
    private final ThreadLocal<List<Long>> pending = ThreadLocal.withInitial(ArrayList::new);
    private final ConcurrentLinkedQueue<Long> samples = new ConcurrentLinkedQueue<>();

    LatencyProbe(int expected) {}

    void pending(org.apache.kafka.common.header.Headers headers) {
      var h = headers.lastHeader("sent-at");
      if (h != null) {
        pending.get().add(Long.parseLong(new String(h.value(), StandardCharsets.UTF_8)));
      }
    }

    DataSource wrap(HikariDataSource pool) {
      return (DataSource)
          Proxy.newProxyInstance(
              LatencyProbe.class.getClassLoader(),
              new Class<?>[] {DataSource.class},
              (proxy, method, args) -> {
                Object out = method.invoke(pool, args);
                if (out instanceof Connection c) {
                  return connection(c);
                }
                return out;
              });
    }

    private Connection connection(Connection c) {
      return (Connection)
          Proxy.newProxyInstance(
              LatencyProbe.class.getClassLoader(),
              new Class<?>[] {Connection.class},
              (proxy, method, args) -> {
                try {
                  Object out = method.invoke(c, args);
                  if (method.getName().equals("commit")) {
                    long now = System.currentTimeMillis();
                    for (long sent : pending.get()) {
                      samples.add(now - sent);
                    }
                    pending.get().clear();
                  } else if (method.getName().equals("rollback") && (args == null)) {
                    pending.get().clear();
                  }
                  return out;
                } catch (java.lang.reflect.InvocationTargetException e) {
                  throw e.getCause();
                }
              });
    }

    long[] sortedMillis() {
      long[] a = samples.stream().mapToLong(Long::longValue).toArray();
      Arrays.sort(a);
      return a;
    }
  }
}
