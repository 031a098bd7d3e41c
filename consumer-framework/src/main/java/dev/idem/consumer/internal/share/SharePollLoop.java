package dev.idem.consumer.internal.share;

import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.internal.health.BrokerConnections;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.ShareConsumer;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loop of a share consumer's poll thread, the only thread that touches the share client: poll,
 * hand the poll's records to the workers in chunks (at most {@code consumer.concurrency} chunks at
 * once), acknowledge each record as its worker hands its answer back through a queue, poll again
 * once every record of the poll is acknowledged (the client refuses to poll before). While the
 * database is unreachable it acquires nothing.
 *
 * <p>The poll thread never waits on a task without a bound: it waits on the queue for at most one
 * poll timeout at a time, publishing a snapshot between waits, and when closing it waits for the
 * records in work up to the drain timeout, then releases the rest to the broker. The records still
 * in work between two waits are known by their coordinates: the place where their acquisition locks
 * would be renewed.
 */
final class SharePollLoop implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(SharePollLoop.class);

  /** What a worker hands the poll thread: one record's acknowledgement, or a chunk's end. */
  private sealed interface Result permits Answered, ChunkEnded {}

  /** A record's worker knows how to acknowledge it. */
  private record Answered(ConsumerRecord<byte[], byte[]> record, AcknowledgeType type)
      implements Result {}

  /**
   * A worker finished a chunk; {@code failure} is what escaped it (a fatal error, a test's
   * simulated crash, a defect), or null. Records of the chunk left without an answer are released.
   */
  private record ChunkEnded(List<ConsumerRecord<byte[], byte[]>> chunk, Throwable failure)
      implements Result {}

  /** A record's coordinates, the key of the records in work. */
  private record Coordinates(String topic, int partition, long offset) {
    static Coordinates of(ConsumerRecord<byte[], byte[]> r) {
      return new Coordinates(r.topic(), r.partition(), r.offset());
    }
  }

  private final String name;
  private final IdemConfig config;
  private final Clock clock;
  private final ConsumerStatus status;
  private final ConsumerMetrics metrics;
  private final ShareMetrics shareMetrics;
  private final DatabaseGate gate;
  private final ShareChunks<?> chunks;
  private final ExecutorService workers;
  private final ShareGroupSettings group;
  private final BrokerConnections brokers = new BrokerConnections();
  private final BlockingQueue<Result> results = new LinkedBlockingQueue<>();
  // The current poll's records not yet acknowledged; touched by the poll thread only.
  private final Map<Coordinates, ConsumerRecord<byte[], byte[]>> inWork = new LinkedHashMap<>();
  private volatile ShareConsumer<byte[], byte[]> client;
  private volatile boolean running = true;
  private volatile Instant lastCommit;

  /**
   * @param parts the consumer's name, configuration and clock
   * @param workers run the chunks; their number of chunks at once is {@code consumer.concurrency}
   */
  SharePollLoop(
      ConsumerParts<?> parts,
      ConsumerStatus status,
      ConsumerMetrics metrics,
      ShareMetrics shareMetrics,
      DatabaseGate gate,
      ShareChunks<?> chunks,
      ExecutorService workers,
      ShareGroupSettings group) {
    this.name = parts.config().consumerName();
    this.config = parts.config();
    this.clock = parts.clock();
    this.status = status;
    this.metrics = metrics;
    this.shareMetrics = shareMetrics;
    this.gate = gate;
    this.chunks = chunks;
    this.workers = workers;
    this.group = group;
  }

  /** The client the loop polls with; its acknowledgement callback runs on the poll thread. */
  void attach(ShareConsumer<byte[], byte[]> client) {
    this.client = client;
    client.setAcknowledgementCommitCallback(this::acknowledged);
  }

  /** Finishes the records in work (up to the drain timeout), then ends the loop. */
  void close() {
    running = false;
  }

  /** Wakes a poll that blocks, when the loop did not end in time. */
  void wakeup() {
    ShareConsumer<byte[], byte[]> c = client;
    if (c != null) {
      c.wakeup();
    }
  }

  @Override
  public void run() {
    try {
      while (running) {
        publish();
        if (!gate.open()) {
          Thread.sleep(config.pollTimeout().toMillis());
          continue;
        }
        try {
          ConsumerRecords<byte[], byte[]> records = client.poll(config.pollTimeout());
          if (!records.isEmpty()) {
            long acquiredAt = System.nanoTime();
            Duration lock =
                client
                    .acquisitionLockTimeoutMs()
                    .map(Duration::ofMillis)
                    .orElse(group.lockDuration());
            process(records, chunks.delivery(acquiredAt, lock, group.deliveryLimit()));
          }
        } catch (RetriableException e) {
          // A broker that is away: the records of the poll are redelivered after their locks;
          // what was applied is skipped then. Go on rather than die of an outage.
          log.warn("idem share consumer {}: {}; polling again", name, e.toString());
          Thread.sleep(config.pollTimeout().toMillis());
        }
      }
    } catch (WakeupException e) {
      // close() woke the poll up.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | Error e) {
      if (running) {
        log.error("idem share consumer {} failed", name, e);
        status.failed();
      }
    } finally {
      releaseInWork();
      try {
        client.close(Duration.ofSeconds(10));
      } catch (RuntimeException e) {
        log.warn("closing the share consumer of {} failed", name, e);
      }
      publish();
    }
  }

  /**
   * Runs a poll's records on the workers and acknowledges each as its answer comes back; returns
   * when every one is acknowledged, or, when closing, once the drain timeout has passed (the rest
   * is released).
   */
  private void process(ConsumerRecords<byte[], byte[]> records, ShareRecordTask.Delivery delivery)
      throws InterruptedException {
    List<ConsumerRecord<byte[], byte[]>> polled = new ArrayList<>(records.count());
    for (TopicPartition tp : records.partitions()) {
      polled.addAll(records.records(tp));
    }
    polled.forEach(r -> inWork.put(Coordinates.of(r), r));
    Deque<List<ConsumerRecord<byte[], byte[]>>> waiting = new ArrayDeque<>(chunks.split(polled));
    int runningChunks = 0;
    long drainEnd = 0;
    while (!waiting.isEmpty() || runningChunks > 0) {
      while (runningChunks < config.concurrency() && !waiting.isEmpty()) {
        submit(waiting.poll(), delivery);
        runningChunks++;
      }
      publish();
      // The records in work now are those of inWork: renewing their locks would go here.
      Result result = results.poll(config.pollTimeout().toMillis(), TimeUnit.MILLISECONDS);
      if (result instanceof Answered a) {
        acknowledge(a.record(), a.type());
      } else if (result instanceof ChunkEnded end) {
        runningChunks--;
        chunkEnded(end);
      }
      if (!running) {
        drainEnd = drainEnd == 0 ? System.nanoTime() + config.drainTimeout().toNanos() : drainEnd;
        if (System.nanoTime() > drainEnd) {
          log.warn(
              "idem share consumer {}: drain timeout {} reached with {} records in work; they are"
                  + " released for redelivery and deduplicated",
              name,
              config.drainTimeout(),
              inWork.size());
          return;
        }
      }
    }
  }

  private void submit(
      List<ConsumerRecord<byte[], byte[]>> chunk, ShareRecordTask.Delivery delivery) {
    workers.execute(
        () -> {
          Throwable failure = null;
          try {
            chunks.run(chunk, delivery, (r, type) -> results.add(new Answered(r, type)));
          } catch (Throwable t) {
            failure = t;
          } finally {
            results.add(new ChunkEnded(chunk, failure));
          }
        });
  }

  /** A chunk's worker is done: what it left unanswered is released; a fatal error ends the loop. */
  private void chunkEnded(ChunkEnded end) {
    for (ConsumerRecord<byte[], byte[]> r : end.chunk()) {
      if (inWork.containsKey(Coordinates.of(r))) {
        // Its task failed before answering: the broker redelivers it.
        acknowledge(r, AcknowledgeType.RELEASE);
      }
    }
    if (end.failure() instanceof Error error) {
      throw error;
    }
    if (end.failure() != null) {
      log.error("idem share consumer {}: a transaction's task failed", name, end.failure());
    }
  }

  private void acknowledge(ConsumerRecord<byte[], byte[]> record, AcknowledgeType type) {
    if (inWork.remove(Coordinates.of(record)) != null) {
      client.acknowledge(record, type);
    }
  }

  /** The records of the last poll that are still in work go back to the broker. */
  private void releaseInWork() {
    for (ConsumerRecord<byte[], byte[]> r : new ArrayList<>(inWork.values())) {
      try {
        acknowledge(r, AcknowledgeType.RELEASE);
      } catch (RuntimeException e) {
        inWork.clear();
        return; // the client is closed: the broker redelivers them after their locks
      }
    }
  }

  /**
   * The broker's answer to acknowledgements, on the poll thread: the client sends a poll's
   * acknowledgements with the next poll (one round trip fewer per poll than a {@code commitSync}),
   * or at close.
   */
  private void acknowledged(Map<TopicIdPartition, Set<Long>> offsets, Exception failure) {
    if (failure == null) {
      lastCommit = clock.instant();
      return;
    }
    // Mostly a lock that expired while the handler ran: the record went to another consumer,
    // whose copy waits on the event's advisory lock and is skipped.
    offsets.keySet().forEach(tp -> shareMetrics.acknowledgementFailed(tp.topic()));
    log.info(
        "consumer {}: the broker refused acknowledgements of {}: {}",
        name,
        offsets,
        failure.toString());
  }

  /** Publishes the poll thread's view: what it alone may read from the client. */
  private void publish() {
    ShareConsumer<byte[], byte[]> c = client;
    boolean reachable = false;
    if (c != null) {
      try {
        reachable = brokers.reachable(c.metrics());
      } catch (IllegalStateException e) {
        // Closed meanwhile.
      }
    }
    status.publish(
        metrics
            .counted(ConsumerSnapshot.builder(status.state(), clock.instant()))
            .inFlight(inWork.size())
            .lastCommit(lastCommit)
            .brokerReachable(reachable)
            .build());
  }
}
