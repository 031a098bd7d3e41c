package dev.idem.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdempotentShareConsumer;
import dev.idem.consumer.Payloads;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * What one slow record costs a share consumer: one record whose handler runs three acquisition
 * locks long, produced first, among {@code --short} short records (each handler sleeps {@code
 * --short-ms}, as an I/O call would), on one partition read by one share consumer with {@code
 * --threads} workers and a 2 s record lock. Each variant runs on a group of its own: the short
 * records alone (the baseline), with the slow record and renewals on (idem renews the slow record's
 * lock), and with the slow record on a group that does not renew ({@code
 * share.renew.acknowledge.enable=false}). Printed per variant: the time until every short record is
 * applied, how many were applied while the slow one ran and their rate, the slow record's
 * deliveries and the acknowledgements the broker refused.
 *
 * <pre>
 * mvn -B -q -Pbench -pl benchmarks -am -DskipTests package \
 *     -Dbench.main=dev.idem.bench.ShareRenewalBenchMain -Dbench.args="--short 200"
 * </pre>
 */
public final class ShareRenewalBenchMain {
  private static final Duration LOCK = Duration.ofSeconds(2);
  private static final Duration SLOW = LOCK.multipliedBy(3);

  private ShareRenewalBenchMain() {}

  private record Result(
      String variant,
      double shortSeconds,
      int shortDuringSlow,
      double slowSeconds,
      double slowDeliveries,
      double refused,
      double renewals) {}

  public static void main(String[] args) throws Exception {
    int shortRecords = 200;
    int shortMs = 20;
    int threads = 4;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--short" -> shortRecords = Integer.parseInt(args[++i]);
        case "--short-ms" -> shortMs = Integer.parseInt(args[++i]);
        case "--threads" -> threads = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    TestInfrastructure infra = TestInfrastructure.shared();
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(infra.postgres().jdbcUrl());
    hc.setUsername(infra.postgres().user());
    hc.setPassword(infra.postgres().password());
    hc.setMaximumPoolSize(threads + 4);
    try (HikariDataSource pool = new HikariDataSource(hc)) {
      Result[] results = {
        run(infra, pool, "short records alone", false, true, shortRecords, shortMs, threads),
        run(infra, pool, "a slow record, renewals on", true, true, shortRecords, shortMs, threads),
        run(infra, pool, "a slow record, renewals off", true, false, shortRecords, shortMs, threads)
      };
      System.out.printf(
          "%n%d short records (%d ms each), %d workers, one share consumer, %d s lock, slow record"
              + " %d s%n",
          shortRecords, shortMs, threads, LOCK.toSeconds(), SLOW.toSeconds());
      System.out.println(
          "| variant | short records done (s) | short applied while the slow one ran | their rate"
              + " (/s) | slow record's deliveries | refused acknowledgements | renewals |");
      System.out.println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (Result r : results) {
        double rate = r.slowSeconds() > 0 ? r.shortDuringSlow() / r.slowSeconds() : 0;
        System.out.printf(
            "| %s | %.2f | %s | %s | %s | %.0f | %.0f |%n",
            r.variant(),
            r.shortSeconds(),
            r.slowSeconds() > 0 ? String.valueOf(r.shortDuringSlow()) : "-",
            r.slowSeconds() > 0
                ? String.format("%.0f", rate)
                : String.format("%.0f (overall)", shortRecords / r.shortSeconds()),
            r.slowSeconds() > 0 ? String.format("%.0f", r.slowDeliveries()) : "-",
            r.refused(),
            r.renewals());
      }
    }
    System.exit(0);
  }

  private static Result run(
      TestInfrastructure infra,
      HikariDataSource pool,
      String variant,
      boolean slow,
      boolean renewals,
      int shortRecords,
      int shortMs,
      int threads)
      throws Exception {
    String name = TestInfrastructure.uniqueName("renewbench");
    String bootstrap = infra.kafka().bootstrapServers();
    infra.createTopics(1, name);
    TestInfrastructure.setGroupConfig(
        bootstrap,
        name,
        Map.of(
            "share.record.lock.duration.ms",
            String.valueOf(LOCK.toMillis()),
            "share.renew.acknowledge.enable",
            String.valueOf(renewals)));
    String table = name + "_applied";
    try (Connection c = pool.getConnection();
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE " + table + " (event_id text PRIMARY KEY)");
    }
    try (KafkaProducer<byte[], byte[]> producer = producer(bootstrap)) {
      if (slow) {
        producer.send(record(name, "slow"));
      }
      for (int i = 0; i < shortRecords; i++) {
        producer.send(record(name, "short-" + i));
      }
      producer.flush();
    }
    long[] slowWindow = new long[2];
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    IdemConfig config =
        IdemConfig.builder(name)
            .bootstrapServers(bootstrap)
            .topics(name)
            .concurrency(threads)
            .handlerTimeout(Duration.ofSeconds(30))
            .retentionWindow(null)
            .build();
    try (IdempotentShareConsumer<String> consumer =
        IdempotentShareConsumer.builder(config, Payloads.utf8())
            .dataSource(pool)
            .eventIds(EventIds.header("webhook-id"))
            .meterRegistry(meters)
            .handler(
                (payload, ctx) -> {
                  if (ctx.eventId().equals("slow")) {
                    slowWindow[0] = System.nanoTime();
                    Thread.sleep(SLOW.toMillis());
                  } else {
                    Thread.sleep(shortMs);
                  }
                  try (PreparedStatement ps =
                      ctx.connection().prepareStatement("INSERT INTO " + table + " VALUES (?)")) {
                    ps.setString(1, ctx.eventId());
                    ps.executeUpdate();
                  }
                  if (ctx.eventId().equals("slow")) {
                    slowWindow[1] = System.nanoTime();
                  }
                })
            .build()) {
      consumer.start();
      long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
      int expected = shortRecords + (slow ? 1 : 0);
      while (applied(pool, table) < expected) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(variant + ": not every record applied in 2 minutes");
        }
        Thread.sleep(20);
      }
    }
    // When each record was applied: its processed mark's time (its transaction's start, the
    // database's clock), against the slow record's own.
    Map<String, Double> marks = new HashMap<>();
    try (Connection c = pool.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT event_id, extract(epoch FROM processed_at) FROM idem.processed_events"
                    + " WHERE consumer_name = ?")) {
      ps.setString(1, name);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          marks.put(rs.getString(1), rs.getDouble(2));
        }
      }
    }
    double slowSeconds = slow ? (slowWindow[1] - slowWindow[0]) / 1e9 : 0;
    double slowStart = slow ? marks.get("slow") : 0;
    double first = marks.values().stream().mapToDouble(d -> d).min().orElse(0);
    double lastShort = first;
    int during = 0;
    for (Map.Entry<String, Double> e : marks.entrySet()) {
      if (e.getKey().equals("slow")) {
        continue;
      }
      lastShort = Math.max(lastShort, e.getValue());
      if (slow && e.getValue() > slowStart && e.getValue() < slowStart + slowSeconds) {
        during++;
      }
    }
    return new Result(
        variant,
        lastShort - first,
        during,
        slowSeconds,
        slow ? 1 + counted(meters, "idem.share.redelivered") : 0,
        counted(meters, "idem.share.acknowledgements.failed"),
        counted(meters, "idem.share.renewals"));
  }

  private static int applied(HikariDataSource pool, String table) throws Exception {
    try (Connection c = pool.getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static double counted(SimpleMeterRegistry meters, String name) {
    return meters.find(name).counters().stream().mapToDouble(Counter::count).sum();
  }

  private static ProducerRecord<byte[], byte[]> record(String topic, String eventId) {
    ProducerRecord<byte[], byte[]> r =
        new ProducerRecord<>(topic, 0, null, eventId.getBytes(StandardCharsets.UTF_8));
    r.headers().add("webhook-id", eventId.getBytes(StandardCharsets.UTF_8));
    return r;
  }

  private static KafkaProducer<byte[], byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    return new KafkaProducer<>(p);
  }
}
