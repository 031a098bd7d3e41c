package dev.idem.consumer.internal.share;

import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.internal.dispatch.HungAttemptException;
import dev.idem.consumer.internal.health.BrokerConnections;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.ShareConsumer;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loop of a share consumer's poll thread, the only thread that touches the share client (it
 * alone calls {@code poll}, {@code acknowledge} and {@code commitAsync}): poll, hand the new
 * records to the workers ({@link ShareRuns}), take their answers from the queue and acknowledge
 * each record as its answer arrives ({@link HeldRecords}), renew the locks of records still in
 * work, and poll again when the held records allow it. It never waits on a task without a bound: it
 * waits on the queue until the next thing due (a renewal, a pause's end, one poll timeout).
 *
 * <p>While a record is in work past half its lock this consumer acquires nothing new (the client
 * returns only renewed records then): one slow record idles its instance's other workers
 * (docs/share-groups.md measures it). A renewal the broker refuses ends that delivery; the late
 * answer of the work still running on it is dropped and counted.
 *
 * <p>A run the {@linkplain dev.idem.consumer.internal.dispatch.Watchdog watchdog} gives up frees
 * its worker slot at once; its hung record is released for another delivery or dead-lettered as
 * {@code handler-timeout} ({@link ShareRecordTask#afterHang}), and the other records of its chunk
 * run again alone, so that the hung one is found. A record whose run answers {@link
 * ShareRecordTask.Later} (a dead letter or an outage waited out on the last delivery) waits for its
 * pause without holding a worker, held and renewed meanwhile.
 *
 * <p>While the database is unreachable the loop acquires nothing (renewals go on). Closing stops
 * acquiring, waits for the held records up to the drain timeout, then releases the rest.
 */
final class SharePollLoop implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(SharePollLoop.class);

  private final String name;
  private final IdemConfig config;
  private final Clock clock;
  private final ConsumerStatus status;
  private final ConsumerMetrics metrics;
  private final DatabaseGate gate;
  private final ShareChunks<?> chunks;
  private final ShareRecordTask task;
  private final ShareRuns runs;
  private final HeldRecords held;
  private final BrokerConnections brokers = new BrokerConnections();
  private volatile ShareConsumer<byte[], byte[]> client;
  private volatile boolean running = true;

  /**
   * @param parts the consumer's name, configuration and clock
   * @param runs the workers' runs, at most {@code consumer.concurrency} at once
   * @param held the records acquired and not acknowledged yet
   */
  SharePollLoop(
      ConsumerParts<?> parts,
      ConsumerStatus status,
      ConsumerMetrics metrics,
      DatabaseGate gate,
      ShareChunks<?> chunks,
      ShareRecordTask task,
      ShareRuns runs,
      HeldRecords held) {
    this.name = parts.config().consumerName();
    this.config = parts.config();
    this.clock = parts.clock();
    this.status = status;
    this.metrics = metrics;
    this.gate = gate;
    this.chunks = chunks;
    this.task = task;
    this.runs = runs;
    this.held = held;
  }

  /** The client the loop polls with. */
  void attach(ShareConsumer<byte[], byte[]> client) {
    this.client = client;
    held.attach(client);
  }

  /** Finishes the held records (up to the drain timeout), then ends the loop. */
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
    long drainEnd = 0;
    try {
      while (running || !held.isEmpty()) {
        publish();
        if (!running) {
          drainEnd = drainEnd == 0 ? System.nanoTime() + config.drainTimeout().toNanos() : drainEnd;
          if (System.nanoTime() > drainEnd) {
            log.warn(
                "idem share consumer {}: drain timeout {} reached with {} records held; they are"
                    + " released for redelivery and deduplicated",
                name,
                config.drainTimeout(),
                held.size());
            break;
          }
        }
        runs.start(held::holds);
        if (held.mayPoll(running && gate.open())) {
          poll();
        } else if (!running && held.isEmpty()) {
          break;
        } else {
          await();
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
      held.releaseAll();
      try {
        client.close(Duration.ofSeconds(10));
      } catch (RuntimeException e) {
        log.warn("closing the share consumer of {} failed", name, e);
      }
      publish();
    }
  }

  private void poll() throws InterruptedException {
    // Renewed records are ready in the client: take them back without waiting.
    Duration timeout = held.renewing() ? Duration.ZERO : config.pollTimeout();
    ConsumerRecords<byte[], byte[]> records;
    try {
      records = client.poll(timeout);
    } catch (RetriableException e) {
      // A broker that is away: the held records are redelivered after their locks; what was
      // applied is skipped then. Go on rather than die of an outage.
      log.warn("idem share consumer {}: {}; polling again", name, e.toString());
      Thread.sleep(config.pollTimeout().toMillis());
      return;
    }
    held.polled();
    if (records.isEmpty()) {
      return;
    }
    List<HeldRecord> acquired = held.took(records, System.nanoTime());
    if (acquired.isEmpty()) {
      return;
    }
    List<ConsumerRecord<byte[], byte[]>> polled = new ArrayList<>(acquired.size());
    acquired.forEach(h -> polled.add(h.record));
    ShareRecordTask.Delivery delivery = acquired.get(0).delivery;
    for (List<ConsumerRecord<byte[], byte[]>> chunk : chunks.split(polled)) {
      List<HeldRecord> part = new ArrayList<>(chunk.size());
      chunk.forEach(r -> part.add(held.get(r)));
      runs.add(
          part, (works, abandoned, answers) -> chunks.run(works, delivery, abandoned, answers));
    }
  }

  /** Waits for the workers' results until the next thing due, and handles what came. */
  private void await() throws InterruptedException {
    long now = System.nanoTime();
    long until = held.due(Math.min(now + config.pollTimeout().toNanos(), runs.nextDue()));
    ShareRuns.Result result = runs.next(until - now);
    while (result != null) {
      handle(result);
      result = runs.next();
    }
    held.afterWait();
  }

  private void handle(ShareRuns.Result result) {
    if (result instanceof ShareRuns.Answered a) {
      answered(a);
    } else if (result instanceof ShareRuns.RunEnded e) {
      runEnded(e);
    } else if (result instanceof ShareRuns.Abandoned a) {
      abandoned(a);
    }
  }

  private void answered(ShareRuns.Answered a) {
    HeldRecord h = held.get(a.record());
    if (a.run().freed || h == null || h.run != a.run()) {
      // Its delivery ended while it ran (a renewal refused, a hang given up): the broker has
      // the record back, and whatever this run did is deduplicated by the event's lock and mark.
      if (!(a.answer() instanceof ShareRecordTask.Dropped)) {
        held.late(a.record(), a.answer());
      }
      return;
    }
    if (a.answer() instanceof ShareRecordTask.Ack ack) {
      held.answer(h, ack.type());
    } else if (a.answer() instanceof ShareRecordTask.Later later) {
      h.run = null;
      runs.after(
          later.pause(),
          List.of(h),
          (works, abandoned, answers) ->
              answers.accept(works.get(0).record(), later.next().run(abandoned)));
    }
    // Dropped: only a run the watchdog gave up drops, and its answers do not come here.
  }

  private void runEnded(ShareRuns.RunEnded e) {
    if (e.run().freed) {
      return; // its slot was freed when the watchdog gave it up
    }
    runs.free(e.run());
    for (HeldRecord h : e.run().records) {
      if (held.holds(h) && h.run == e.run()) {
        // Its run failed before answering: the broker redelivers it.
        log.error("idem share consumer {}: {} left without an answer; released", name, h);
        held.answer(h, AcknowledgeType.RELEASE);
      }
    }
    if (e.failure() instanceof Error error) {
      throw error;
    }
    if (e.failure() != null) {
      log.error("idem share consumer {}: a transaction's task failed", name, e.failure());
    }
  }

  /**
   * The watchdog gave a run up: its slot is free. A lone record left unanswered is the hung one:
   * released or dead-lettered on a worker ({@link ShareRecordTask#afterHang}); several run again
   * alone, so that the hung one is found.
   */
  private void abandoned(ShareRuns.Abandoned a) {
    ShareRuns.Run run = a.run();
    runs.free(run);
    List<HeldRecord> unanswered = new ArrayList<>();
    for (HeldRecord h : run.records) {
      if (held.holds(h) && h.run == run) {
        h.run = null;
        unanswered.add(h);
      }
    }
    // After a commit, a record runs again (found processed, a duplicate) rather than be released or
    // dead-lettered as a hung attempt.
    if (unanswered.size() == 1 && !a.failure().afterCommit()) {
      HungAttemptException failure = a.failure();
      runs.addFirst(
          unanswered,
          (works, abandoned, answers) -> {
            ConsumerRecord<byte[], byte[]> r = works.get(0).record();
            answers.accept(r, task.afterHang(r, failure.eventId(), failure, abandoned));
          });
      return;
    }
    for (HeldRecord h : unanswered) {
      runs.addFirst(
          List.of(h),
          (works, abandoned, answers) -> chunks.run(works, h.delivery, abandoned, answers));
    }
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
            .inFlight(held.size())
            .lastCommit(held.lastCommit())
            .brokerReachable(reachable)
            .build());
  }
}
