package dev.idem.chaos;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces a workload at a steady rate of unique events per second on a thread of its own, each
 * event's copies right after it, until told to stop. The producer is idempotent with {@code
 * acks=all} and retries long enough to ride out a broker restart; every record must be
 * acknowledged, or the run is void.
 */
final class WorkloadProducer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Workload workload;
  private final int rate;
  private final KafkaProducer<byte[], byte[]> producer;
  private final AtomicLong acknowledged = new AtomicLong();
  private final List<Exception> failures = new ArrayList<>();
  private final Thread thread;
  private volatile int eventsSent;
  private volatile boolean stopping;

  WorkloadProducer(String bootstrapServers, Workload workload, int rate) {
    this.workload = workload;
    this.rate = rate;
    this.producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ProducerConfig.CLIENT_ID_CONFIG, "idem-chaos-producer",
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
                ProducerConfig.LINGER_MS_CONFIG, "5",
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "300000",
                ProducerConfig.MAX_BLOCK_MS_CONFIG, "300000"),
            new ByteArraySerializer(),
            new ByteArraySerializer());
    this.thread = new Thread(this::produce, "chaos-producer");
  }

  /** Starts producing. */
  void start() {
    thread.start();
  }

  /** Unique events handed to the producer so far. */
  int eventsSent() {
    return eventsSent;
  }

  /** Asks the producing thread to stop after the current event. */
  void stop() {
    stopping = true;
  }

  /**
   * Stops producing and waits until every record sent was acknowledged; the workload's drawn events
   * are then exactly the produced ones.
   *
   * @throws ChaosException when a record was refused or the wait timed out
   */
  void stopAndAwaitAcknowledged(Duration timeout) {
    stop();
    try {
      thread.join(timeout.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ChaosException("interrupted while producing", e);
    }
    if (thread.isAlive()) {
      throw new ChaosException("producing did not finish within " + timeout);
    }
    producer.flush();
    synchronized (failures) {
      if (!failures.isEmpty()) {
        throw new ChaosException(
            failures.size() + " records were not acknowledged; the run is void", failures.get(0));
      }
    }
    if (acknowledged.get() != workload.records()) {
      throw new ChaosException(
          acknowledged.get() + " of " + workload.records() + " records acknowledged");
    }
  }

  private void produce() {
    long start = System.nanoTime();
    long intervalNanos = TimeUnit.SECONDS.toNanos(1) / rate;
    int i = 0;
    while (!stopping) {
      long due = start + i * intervalNanos;
      long wait = due - System.nanoTime();
      if (wait > 0) {
        LockSupport.parkNanos(Math.min(wait, TimeUnit.MILLISECONDS.toNanos(100)));
        continue;
      }
      Workload.Planned planned = workload.next();
      byte[] key = planned.event().key().getBytes(StandardCharsets.UTF_8);
      byte[] value = json(planned.event());
      byte[] id = planned.event().id().getBytes(StandardCharsets.UTF_8);
      for (Workload.Target target : planned.targets()) {
        ProducerRecord<byte[], byte[]> record =
            new ProducerRecord<>(target.topic(), target.partition(), key, value);
        record.headers().add("webhook-id", id);
        producer.send(
            record,
            (metadata, error) -> {
              if (error == null) {
                acknowledged.incrementAndGet();
              } else {
                synchronized (failures) {
                  failures.add(error);
                }
              }
            });
      }
      eventsSent = ++i;
    }
  }

  private static byte[] json(ChaosEvent event) {
    try {
      return JSON.writeValueAsBytes(event);
    } catch (JsonProcessingException e) {
      throw new ChaosException("cannot write " + event, e);
    }
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(10));
  }
}
