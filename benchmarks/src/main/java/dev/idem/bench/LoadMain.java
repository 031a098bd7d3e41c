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
 * {@value #WARMUP_SECONDS} seconds of them are a warm-up at the same rate, sent without a stamp
 * (the consumer JVM has just started, its code is not compiled yet); every later one is stamped
 * with a "sent-at" header (epoch milliseconds when {@code send} was called). Every millisecond it
 * sends what is due by then, so a rate above 1,000/s needs no sub-millisecond sleeps. The topic's
 * metadata is fetched before the schedule starts: the first {@code send} would otherwise block for
 * it and release a burst. Prints {@code RESULT {json}}: what it sent, in how long, and how far
 * behind its schedule it fell at worst.
 */
public final class LoadMain {
  /** Seconds of unstamped warm-up at the start of every latency run. */
  static final int WARMUP_SECONDS = 3;

  private LoadMain() {}

  public static void main(String[] args) throws Exception {
    Settings s = Settings.fromArgs(args);
    int rate = s.latencyRate();
    int events = s.events();
    long maxBehindNanos = 0;
    long start;
    long end;
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
      int warmup = (int) Math.min(events, (long) rate * WARMUP_SECONDS);
      start = System.nanoTime();
      int sent = 0;
      while (sent < events) {
        long now = System.nanoTime();
        int due = (int) Math.min(events, (now - start) * rate / 1_000_000_000L + 1);
        if (due > sent) {
          // Record k is due k / rate seconds after the start; the oldest unsent one is the latest.
          long dueAt = start + (long) (sent * 1e9 / rate);
          maxBehindNanos = Math.max(maxBehindNanos, now - dueAt);
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
    }
    ObjectNode result = new ObjectMapper().createObjectNode();
    double seconds = (end - start) / 1e9;
    result.put("sent", events);
    result.put("warmup", Math.min(events, (long) rate * WARMUP_SECONDS));
    result.put("seconds", seconds);
    result.put("sentPerSecond", events / seconds);
    result.put("maxBehindMs", maxBehindNanos / 1_000_000);
    System.out.println("RESULT " + result);
    System.out.flush();
    System.exit(0);
  }
}
