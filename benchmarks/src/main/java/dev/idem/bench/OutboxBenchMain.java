package dev.idem.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.Payloads;
import dev.idem.consumer.outbox.Outbox;
import dev.idem.consumer.outbox.OutboxRecord;
import dev.idem.consumer.outbox.OutboxRelay;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import dev.idem.testkit.TestInfrastructure;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The outbox against publishing after the commit, in one process on the same servers: writer
 * threads each run transactions that insert a ledger row and either publish through the outbox (the
 * relay sends) or, the baseline, send to Kafka straight after the commit and wait for the
 * acknowledgement (the pattern that loses the record when the process dies in between). A reader
 * ({@code read_committed}) receives every record; throughput is records from the first commit to
 * the last record received, latency is from the record's value being made (after the commit for the
 * baseline, just before it for the outbox) to the record received.
 *
 * <p>{@code --paced RATE} adds the latency at a steady load: one writer commits {@code RATE}
 * transactions a second for {@code --paced-seconds} (default 15) and a downstream {@link
 * IdempotentConsumer} applies each record (an insert, deduplicated on the event id header); latency
 * is from the commit (the stamp is taken just before it) to the downstream transaction that applied
 * the record, for publishing after the commit and for the relay polling every 100 ms (its default)
 * and every 20 ms. {@code --idle SECONDS} measures what an idle relay's polling costs the database:
 * PostgreSQL's CPU time over that many seconds with no relay, and with an idle relay polling every
 * 100 ms and every 20 ms.
 *
 * <pre>
 * mvn -B -q -Pbench -pl benchmarks -am -DskipTests package \
 *     -Dbench.main=dev.idem.bench.OutboxBenchMain -Dbench.args="--events 20000 --writers 4"
 * mvn -B -q -Pbench -pl benchmarks -am -DskipTests package \
 *     -Dbench.main=dev.idem.bench.OutboxBenchMain -Dbench.args="--events 0 --paced 200 --idle 20"
 * </pre>
 */
public final class OutboxBenchMain {
  private OutboxBenchMain() {}

  public static void main(String[] args) throws Exception {
    int events = 20_000;
    int writers = 4;
    int paced = 0;
    int pacedSeconds = 15;
    int idle = 0;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--events" -> events = Integer.parseInt(args[++i]);
        case "--writers" -> writers = Integer.parseInt(args[++i]);
        case "--paced" -> paced = Integer.parseInt(args[++i]);
        case "--paced-seconds" -> pacedSeconds = Integer.parseInt(args[++i]);
        case "--idle" -> idle = Integer.parseInt(args[++i]);
        case "--quick" -> events = 10_000;
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    TestInfrastructure infra = TestInfrastructure.shared();
    String name = TestInfrastructure.uniqueName("outboxbench");
    infra.createTopics(4, name + "-direct", name + "-outbox");
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(infra.postgres().jdbcUrl());
    hc.setUsername(infra.postgres().user());
    hc.setPassword(infra.postgres().password());
    hc.setMaximumPoolSize(writers + 4);
    try (HikariDataSource pool = new HikariDataSource(hc)) {
      try (Connection c = pool.getConnection();
          Statement s = c.createStatement()) {
        s.execute("CREATE TABLE " + name.replace('-', '_') + "_ledger (id bigint, k text)");
      }
      Outbox outbox = Outbox.builder().table(name.replace('-', '_')).build();
      outbox.applySchema(pool);
      String bootstrap = infra.kafka().bootstrapServers();
      List<String> rows = new ArrayList<>();
      if (idle > 0) {
        idleCost(pool, outbox, bootstrap, name, idle, infra.postgres().jdbcUrl());
      }
      if (paced > 0) {
        pacedLatency(pool, outbox, bootstrap, name, paced, pacedSeconds);
      }
      // Interleaved, twice each: the second round of each is the one reported.
      for (int round = 1; round <= 2 && events > 0; round++) {
        Result direct = direct(pool, bootstrap, name, events, writers, round);
        Result relayed = outbox(pool, outbox, bootstrap, name, events, writers, round);
        if (round == 2) {
          rows.add(direct.row("publish after commit"));
          rows.add(relayed.row("outbox + relay"));
          System.out.printf(
              "%n%,d records, %d writers, 4 partitions, 100 keys%n"
                  + "| mode | records/s | vs publish after commit | latency p50 ms | p99 ms |%n"
                  + "|---|---:|---:|---:|---:|%n%s%n%s%n",
              events,
              writers,
              rows.get(0) + " 1.00x | " + direct.latencies(),
              rows.get(1)
                  + String.format(" %.2fx | ", relayed.perSecond() / direct.perSecond())
                  + relayed.latencies());
        }
      }
    }
    System.exit(0);
  }

  /** PostgreSQL's CPU time with no relay and with an idle relay at two poll intervals. */
  private static void idleCost(
      HikariDataSource pool,
      Outbox outbox,
      String bootstrap,
      String name,
      int seconds,
      String jdbcUrl)
      throws Exception {
    java.util.regex.Matcher port = java.util.regex.Pattern.compile(":(\\d+)/").matcher(jdbcUrl);
    ServerCpu cpu =
        ServerCpu.of(ServerCpu.scope(port.find() ? Integer.parseInt(port.group(1)) : 0, null));
    System.out.printf(
        "%nidle, %d s each: PostgreSQL CPU%n| relay | CPU ms per second | relay rounds per second |%n"
            + "|---|---:|---:|%n",
        seconds);
    for (Duration poll : new Duration[] {null, Duration.ofMillis(100), Duration.ofMillis(20)}) {
      OutboxRelay relay = null;
      if (poll != null) {
        relay = relay(pool, outbox, bootstrap, name + "-idle-" + poll.toMillis(), poll);
        relay.start();
        while (!relay.isLeader()) {
          Thread.sleep(50);
        }
        Thread.sleep(1000);
      }
      long rounds = relay == null ? 0 : relay.rounds();
      long from = cpu.ticks();
      Thread.sleep(seconds * 1000L);
      double used = ServerCpu.seconds(from, cpu.ticks());
      long ran = relay == null ? 0 : relay.rounds() - rounds;
      if (relay != null) {
        relay.close();
      }
      System.out.printf(
          "| %s | %.1f | %.1f |%n",
          poll == null ? "none" : "idle, polling every " + poll.toMillis() + " ms",
          used * 1000 / seconds,
          ran / (double) seconds);
    }
  }

  private static OutboxRelay relay(
      HikariDataSource pool, Outbox outbox, String bootstrap, String name, Duration poll) {
    AdvisoryLocks locks = AdvisoryLocks.builder(ConnectionFactory.sameServerAs(pool)).build();
    return OutboxRelay.builder(
            outbox, pool, locks, Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))
        .name(name)
        .pollInterval(poll)
        .build();
  }

  /**
   * Commit to downstream apply at a steady {@code rate}: after the commit, and through the relay at
   * its default poll interval and at 20 ms.
   */
  private static void pacedLatency(
      HikariDataSource pool, Outbox outbox, String bootstrap, String name, int rate, int seconds)
      throws Exception {
    String applied = name.replace('-', '_') + "_applied";
    try (Connection c = pool.getConnection();
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE " + applied + " (event_id text PRIMARY KEY)");
    }
    System.out.printf(
        "%n%d transactions/s for %d s, one writer; commit to downstream apply%n"
            + "| mode | applied | latency p50 ms | p99 ms | max ms |%n|---|---:|---:|---:|---:|%n",
        rate, seconds);
    String[] modes = {"publish after commit", "outbox, poll 100 ms", "outbox, poll 20 ms"};
    for (int m = 0; m < modes.length; m++) {
      String topic = name + "-paced-" + m;
      TestInfrastructure.createTopics(bootstrap, 4, Map.of(), topic);
      java.util.concurrent.ConcurrentLinkedQueue<Long> latencies =
          new java.util.concurrent.ConcurrentLinkedQueue<>();
      IdempotentConsumer<byte[]> downstream =
          IdempotentConsumer.builder(
                  IdemConfig.builder(name + "-down-" + m)
                      .bootstrapServers(bootstrap)
                      .topics(topic)
                      .build(),
                  Payloads.bytes())
              .dataSource(pool)
              .eventIds(EventIds.header(Outbox.EVENT_ID_HEADER))
              .handler(
                  (value, ctx) -> {
                    try (PreparedStatement ps =
                        ctx.connection()
                            .prepareStatement("INSERT INTO " + applied + " VALUES (?)")) {
                      ps.setString(1, ctx.eventId());
                      ps.executeUpdate();
                    }
                    latencies.add(System.nanoTime() / 1000 - ByteBuffer.wrap(value).getLong());
                  })
              .build();
      downstream.start();
      OutboxRelay relay =
          m == 0
              ? null
              : relay(pool, outbox, bootstrap, topic, Duration.ofMillis(m == 1 ? 100 : 20));
      KafkaProducer<byte[], byte[]> producer = m == 0 ? producer(bootstrap) : null;
      if (relay != null) {
        relay.start();
      }
      // Let the consumer join and the relay lead before the clock runs.
      Thread.sleep(3000);
      int total = rate * seconds;
      long start = System.nanoTime();
      for (int i = 0; i < total; i++) {
        long due = start + i * 1_000_000_000L / rate;
        long wait = due - System.nanoTime();
        if (wait > 0) {
          Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
        String id = topic + "-" + i;
        byte[] key = ("k" + (i % 100)).getBytes(StandardCharsets.UTF_8);
        try (Connection c = pool.getConnection()) {
          c.setAutoCommit(false);
          if (producer == null) {
            outbox.publish(c, OutboxRecord.of(id, topic, key, stamp()));
            c.commit();
          } else {
            c.commit();
            ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, key, stamp());
            r.headers().add(Outbox.EVENT_ID_HEADER, id.getBytes(StandardCharsets.UTF_8));
            producer.send(r).get();
          }
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (latencies.size() < total && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      downstream.close();
      if (relay != null) {
        relay.close();
      }
      if (producer != null) {
        producer.close();
      }
      long[] sorted = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
      System.out.printf(
          "| %s | %d of %d | %.1f | %.1f | %.1f |%n",
          modes[m],
          sorted.length,
          total,
          sorted[sorted.length / 2] / 1000.0,
          sorted[(int) (sorted.length * 0.99)] / 1000.0,
          sorted[sorted.length - 1] / 1000.0);
    }
  }

  private static KafkaProducer<byte[], byte[]> producer(String bootstrap) {
    return new KafkaProducer<>(
        Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
            bootstrap,
            ProducerConfig.ACKS_CONFIG,
            "all",
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG,
            true,
            ProducerConfig.LINGER_MS_CONFIG,
            5),
        new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  private record Result(double seconds, int events, long[] latencyMicros) {
    double perSecond() {
      return events / seconds;
    }

    String row(String mode) {
      return String.format("| %s | %,.0f |", mode, perSecond());
    }

    String latencies() {
      long[] sorted = latencyMicros.clone();
      Arrays.sort(sorted);
      return String.format(
          "%.1f | %.1f |",
          sorted[sorted.length / 2] / 1000.0, sorted[(int) (sorted.length * 0.99)] / 1000.0);
    }
  }

  private static Result direct(
      HikariDataSource pool, String bootstrap, String name, int events, int writers, int round)
      throws Exception {
    String topic = name + "-direct";
    try (KafkaProducer<byte[], byte[]> producer = producer(bootstrap)) {
      return measure(
          pool,
          bootstrap,
          topic,
          name,
          events,
          writers,
          (c, id, key) -> {
            c.commit();
            try {
              producer.send(new ProducerRecord<>(topic, key, stamp())).get();
            } catch (Exception e) {
              throw new SQLException(e);
            }
          },
          round);
    }
  }

  private static Result outbox(
      HikariDataSource pool,
      Outbox outbox,
      String bootstrap,
      String name,
      int events,
      int writers,
      int round)
      throws Exception {
    String topic = name + "-outbox";
    try (OutboxRelay relay = relay(pool, outbox, bootstrap, name, Duration.ofMillis(100))) {
      relay.start();
      return measure(
          pool,
          bootstrap,
          topic,
          name,
          events,
          writers,
          (c, id, key) -> {
            outbox.publish(c, OutboxRecord.of("r" + round + "-" + id, topic, key, stamp()));
            c.commit();
          },
          round);
    }
  }

  /** What a writer does after its ledger insert: publish and commit, in some order. */
  private interface Finish {
    void finish(Connection c, long id, byte[] key) throws SQLException;
  }

  /** The current time in microseconds, as a record value (read by the receiver). */
  private static byte[] stamp() {
    return ByteBuffer.allocate(8).putLong(System.nanoTime() / 1000).array();
  }

  private static Result measure(
      HikariDataSource pool,
      String bootstrap,
      String topic,
      String name,
      int events,
      int writers,
      Finish finish,
      int round)
      throws Exception {
    String ledger = name.replace('-', '_') + "_ledger";
    try (KafkaConsumer<byte[], byte[]> reader =
        new KafkaConsumer<>(
            Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrap,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                false),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          reader.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .toList();
      reader.assign(partitions);
      reader.seekToEnd(partitions);
      partitions.forEach(reader::position);
      ExecutorService threads = Executors.newFixedThreadPool(writers);
      long start = System.nanoTime();
      List<Future<?>> done = new ArrayList<>();
      int perWriter = events / writers;
      for (int w = 0; w < writers; w++) {
        int writer = w;
        done.add(
            threads.submit(
                () -> {
                  for (int i = 0; i < perWriter; i++) {
                    long id = (long) writer * perWriter + i;
                    byte[] key = ("k" + (id % 100)).getBytes(StandardCharsets.UTF_8);
                    try (Connection c = pool.getConnection()) {
                      c.setAutoCommit(false);
                      try (PreparedStatement ps =
                          c.prepareStatement("INSERT INTO " + ledger + " VALUES (?, ?)")) {
                        ps.setLong(1, id);
                        ps.setString(2, "r" + round);
                        ps.executeUpdate();
                      }
                      finish.finish(c, id, key);
                    }
                  }
                  return null;
                }));
      }
      int total = perWriter * writers;
      long[] latencies = new long[total];
      int received = 0;
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
      while (received < total && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : reader.poll(Duration.ofMillis(50))) {
          long now = System.nanoTime() / 1000;
          if (received < total) {
            latencies[received++] = now - ByteBuffer.wrap(r.value()).getLong();
          }
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      for (Future<?> f : done) {
        f.get();
      }
      threads.shutdown();
      if (received < total) {
        throw new IllegalStateException("only " + received + " of " + total + " records arrived");
      }
      return new Result(seconds, total, latencies);
    }
  }
}
