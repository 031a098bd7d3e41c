package dev.idem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The load generator of the latency runs, in a JVM of its own (started like the scenario children,
 * {@code -Xmx256m}), so that its CPU and garbage collection are neither the consumer's nor the
 * harness's: {@code events} new events at a steady {@code latencyRate} per second. The first
 * {@value #WARMUP_SECONDS} seconds are a warm-up at half that rate, sent without a stamp (the
 * consumer JVM has just started, its code is not compiled yet); every later one is stamped with a
 * "sent-at" header (epoch milliseconds when {@code send} was called). Every millisecond it sends
 * what is due by then, so a rate above 1,000/s needs no sub-millisecond sleeps. The topic's
 * metadata is fetched before the schedule starts: the first {@code send} would otherwise block for
 * it and release a burst. Prints {@code RESULT {json}}: what it sent, in how long, and how far
 * behind its schedule it fell at worst.
 */
public final class LoadMain {
  /**
   * Seconds of unstamped warm-up at the start of every latency run, at half the run's rate: long
   * enough for the consumer JVM's JIT compiler to do most of its work, slow enough that a cold
   * consumer does not build a backlog that the measured part then inherits.
   */
  static final int WARMUP_SECONDS = 10;

  /** The warm-up's rate for a run at {@code rate}. */
  static double warmupRate(int rate) {
    return Math.max(1, rate / 2.0);
  }

  /** The unstamped records of the warm-up of a run at {@code rate}. */
  static long warmupEvents(int rate) {
    return (long) (warmupRate(rate) * WARMUP_SECONDS);
  }

  /** All records of a run at {@code rate} whose measured part lasts {@code seconds}. */
  static int events(int rate, int seconds) {
    return (int) (warmupEvents(rate) + (long) rate * seconds);
  }

  private LoadMain() {}

  public static void main(String[] args) throws Exception {
    Settings s = Settings.fromArgs(args);
    int rate = s.latencyRate();
    int events = s.events();
    long maxBehindNanos = 0;
    long start;
    long end;
    long measuredNanos;
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                s.bootstrap(),
                // The Kafka 4 client's default linger: a latency run measures what users get.
                ProducerConfig.LINGER_MS_CONFIG,
                5,
                ProducerConfig.ACKS_CONFIG,
                "all"),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      producer.partitionsFor(s.topic());
      int warmup = (int) Math.min(events, warmupEvents(rate));
      double warmupRate = warmupRate(rate);
      start = System.nanoTime();
      int sent = 0;
      long measuredStart = 0;
      while (sent < events) {
        long now = System.nanoTime();
        double t = (now - start) / 1e9;
        long dueNow =
            t < WARMUP_SECONDS
                ? (long) (t * warmupRate) + 1
                : warmup + (long) ((t - WARMUP_SECONDS) * rate) + 1;
        int due = (int) Math.min(events, dueNow);
        if (due > sent) {
          // The oldest unsent record is the one furthest behind its schedule.
          double dueAtSeconds =
              sent < warmup ? sent / warmupRate : WARMUP_SECONDS + (sent - warmup) / (double) rate;
          maxBehindNanos = Math.max(maxBehindNanos, now - start - (long) (dueAtSeconds * 1e9));
        }
        if (measuredStart == 0 && sent >= warmup) {
          measuredStart = now;
        }
        for (; sent < due; sent++) {
          ProducerRecord<byte[], byte[]> r =
              new ProducerRecord<>(
                  s.topic(),
                  sent % s.partitions(),
                  ("acct-" + (sent % 1000)).getBytes(StandardCharsets.UTF_8),
                  ("acct-" + (sent % 1000) + ":1").getBytes(StandardCharsets.UTF_8));
          r.headers().add("webhook-id", ("lat-" + sent).getBytes(StandardCharsets.UTF_8));
          if (sent >= warmup) {
            r.headers()
                .add(
                    "sent-at",
                    Long.toString(System.currentTimeMillis()).getBytes(StandardCharsets.UTF_8));
          }
          producer.send(r);
        }
        TimeUnit.MILLISECONDS.sleep(1);
      }
      producer.flush();
      end = System.nanoTime();
      measuredNanos = measuredStart == 0 ? 0 : end - measuredStart;
    }
    ObjectNode result = new ObjectMapper().createObjectNode();
    double seconds = (end - start) / 1e9;
    result.put("sent", events);
    result.put("warmup", Math.min(events, warmupEvents(rate)));
    result.put("seconds", seconds);
    // The rate of the measured part, after the warm-up at half the rate.
    long measured = events - Math.min(events, warmupEvents(rate));
    result.put("sentPerSecond", measuredNanos == 0 ? 0 : measured / (measuredNanos / 1e9));
    result.put("maxBehindMs", maxBehindNanos / 1_000_000);
    // Cores this JVM used over its whole life: the generator's share of the machine.
    result.put(
        "cpuCores",
        ((com.sun.management.OperatingSystemMXBean)
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime()
            / 1e9
            / seconds);
    System.out.println("RESULT " + result);
    System.out.flush();
    System.exit(0);
  }
}
