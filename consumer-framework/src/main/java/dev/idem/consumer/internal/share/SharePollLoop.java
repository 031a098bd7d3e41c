package dev.idem.consumer.internal.share;

import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.internal.dispatch.HungAttemptException;
import dev.idem.consumer.internal.dispatch.Watchdog;
import dev.idem.consumer.internal.dispatch.Work;
import dev.idem.consumer.internal.health.BrokerConnections;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.runtime.ConsumerParts;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
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
 * The loop of a share consumer's poll thread, the only thread that touches the share client (it
 * alone calls {@code poll}, {@code acknowledge} and {@code commitAsync}). Workers hand every
 * record's answer back through a queue; the poll thread acknowledges each record as its answer
 * arrives and never waits on a task without a bound.
 *
 * <p>The records of a poll stay {@linkplain Held held} until answered. The client refuses to poll
 * while one of them is unacknowledged, so the loop polls again once every held record is answered,
 * and renews the locks of the records still in work before they reach half their duration: it
 * acknowledges each with {@code RENEW}, sends that at once ({@code commitAsync}), and once the
 * broker has renewed them all, polls to take them back, matching each by its coordinates to the
 * work still running on it, never started twice. The client returns only renewed records while any
 * is being renewed, and a poll made before the broker answered a renewal would fetch records the
 * client then keeps unseen while their locks run out; so while a record is in work past half its
 * lock, this consumer acquires nothing new: one slow record idles its instance's other workers
 * (docs/share-groups.md measures it). A renewal the broker refuses (the lock already expired, or
 * the group's {@code share.renew.acknowledge.enable=false}) ends that delivery: the record goes to
 * another, and the late answer of the work still running on it is dropped and counted. A group that
 * does not renew makes the loop wait for every held record before polling; meanwhile the answers
 * are sent every quarter of the lock.
 *
 * <p>Every run on a worker registers with the {@link Watchdog}. A run the watchdog gives up (its
 * transaction outlived lock-timeout + handler-timeout) frees its worker slot at once; its hung
 * record is released for another delivery or, on the last one, dead-lettered as {@code
 * handler-timeout}, and the other records of its chunk run again alone. A record whose run answers
 * {@link ShareRecordTask.Later} (a dead letter or an outage waited out on the last delivery) waits
 * for its pause without holding a worker, held and renewed meanwhile.
 *
 * <p>While the database is unreachable the loop acquires nothing (renewals go on). Closing stops
 * acquiring, waits for the held records up to the drain timeout, then releases the rest.
 */
final class SharePollLoop implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(SharePollLoop.class);

  /** Locks are renewed once this share of them has passed. */
  private static final double RENEW_AT = 0.5;

  /** While a renewal is unanswered, the loop looks for the broker's answer this often. */
  private static final Duration RENEWAL_CHECK = Duration.ofMillis(5);

  /** What a worker or the watchdog hands the poll thread. */
  private sealed interface Result permits Answered, RunEnded, Abandoned {}

  /** A record's answer from a run. */
  private record Answered(
      Run run, ConsumerRecord<byte[], byte[]> record, ShareRecordTask.Answer answer)
      implements Result {}

  /** A run returned; {@code failure} is what escaped it (a fatal error, a defect), or null. */
  private record RunEnded(Run run, Throwable failure) implements Result {}

  /** The watchdog gave a run up. */
  private record Abandoned(Run run, HungAttemptException failure) implements Result {}

  /** A record's coordinates, the key of the held records. */
  private record Coordinates(String topic, int partition, long offset) {
    static Coordinates of(ConsumerRecord<byte[], byte[]> r) {
      return new Coordinates(r.topic(), r.partition(), r.offset());
    }
  }

  /** A record acquired and not acknowledged yet; touched by the poll thread only. */
  private static final class Held {
    /** The instance the client holds now: a renewed record comes back as a new instance. */
    ConsumerRecord<byte[], byte[]> record;

    final ShareRecordTask.Delivery delivery;

    /** When its acquisition lock last started: acquired, or returned renewed. */
    long lockFrom;

    /** Acknowledged with {@code RENEW}: it cannot be acknowledged until a poll returns it. */
    boolean renewing;

    /** The broker renewed its lock: the next poll returns it. */
    boolean renewed;

    /** Its answer, given while it was renewing. */
    AcknowledgeType answer;

    /** The run working on it, or null while it waits for a worker or a pause. */
    Run run;

    Held(ConsumerRecord<byte[], byte[]> record, ShareRecordTask.Delivery delivery, long now) {
      this.record = record;
      this.delivery = delivery;
      this.lockFrom = now;
    }

    Coordinates coordinates() {
      return Coordinates.of(record);
    }
  }

  /** Work for a worker on some held records. */
  @FunctionalInterface
  private interface Body {
    void run(
        List<Work> works,
        java.util.function.BooleanSupplier abandoned,
        java.util.function.BiConsumer<ConsumerRecord<byte[], byte[]>, ShareRecordTask.Answer>
            answers);
  }

  private record Job(List<Held> records, Body body) {}

  private record Timed(long dueNanos, Job job) {}

  /** One run of a job on a worker. */
  private final class Run {
    final List<Held> records;
    final List<Work> works;
    private boolean ended;
    private volatile boolean abandoned;

    /** Set on the poll thread when it has handled the abandonment. */
    boolean given;

    Run(List<Held> records) {
      this.records = records;
      this.works = new ArrayList<>(records.size());
      for (Held h : records) {
        ConsumerRecord<byte[], byte[]> r = h.record;
        works.add(new Work(r, new TopicPartition(r.topic(), r.partition()), 0, null));
      }
    }

    boolean abandoned() {
      return abandoned;
    }

    /** On the watchdog's thread, the run's transaction held open meanwhile. */
    synchronized boolean abandon(HungAttemptException failure) {
      if (ended || abandoned) {
        return false;
      }
      abandoned = true;
      works.forEach(Work::abandon);
      results.add(new Abandoned(this, failure));
      return true;
    }

    synchronized void end() {
      ended = true;
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
  private final ShareRecordTask task;
  private final ExecutorService workers;
  private final Watchdog watchdog;
  private final LiveGroupSettings group;
  private final BrokerConnections brokers = new BrokerConnections();
  private final BlockingQueue<Result> results = new LinkedBlockingQueue<>();
  private final Map<Coordinates, Held> held = new LinkedHashMap<>();
  private final Deque<Job> jobs = new ArrayDeque<>();
  private final PriorityQueue<Timed> timers =
      new PriorityQueue<>(Comparator.comparingLong(Timed::dueNanos));
  private int runs;
  private boolean unsent;
  private long lastSent = System.nanoTime();
  private Duration lock;
  private volatile ShareConsumer<byte[], byte[]> client;
  private volatile boolean running = true;
  private volatile Instant lastCommit;

  /**
   * @param parts the consumer's name, configuration and clock
   * @param workers run the jobs; their number at once is {@code consumer.concurrency}
   */
  SharePollLoop(
      ConsumerParts<?> parts,
      ConsumerStatus status,
      ConsumerMetrics metrics,
      ShareMetrics shareMetrics,
      DatabaseGate gate,
      ShareChunks<?> chunks,
      ShareRecordTask task,
      ExecutorService workers,
      Watchdog watchdog,
      LiveGroupSettings group) {
    this.name = parts.config().consumerName();
    this.config = parts.config();
    this.clock = parts.clock();
    this.status = status;
    this.metrics = metrics;
    this.shareMetrics = shareMetrics;
    this.gate = gate;
    this.chunks = chunks;
    this.task = task;
    this.workers = workers;
    this.watchdog = watchdog;
    this.group = group;
    this.lock = group.current().lockDuration();
  }

  /** The client the loop polls with; its acknowledgement callback runs on the poll thread. */
  void attach(ShareConsumer<byte[], byte[]> client) {
    this.client = client;
    client.setAcknowledgementCommitCallback(this::acknowledged);
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
        startJobs();
        if (mayPoll()) {
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
      releaseHeld();
      try {
        client.close(Duration.ofSeconds(10));
      } catch (RuntimeException e) {
        log.warn("closing the share consumer of {} failed", name, e);
      }
      publish();
    }
  }

  /**
   * Whether the next step is a poll: when no held record waits for its answer (to acquire more), or
   * when the broker has renewed every record being renewed (to take them back). Never a poll that
   * acquires while closing or while the database is unreachable.
   *
   * <p>The locks of the records in work are renewed here once due: acknowledged with {@code RENEW}
   * and sent at once ({@code commitAsync}, whose request acquires nothing). The loop then polls
   * only once the broker has answered every renewal: a poll while a renewal is still unanswered
   * sends a fetch that acquires records the client keeps until the renewals are over, their locks
   * running out unseen.
   */
  private boolean mayPoll() {
    boolean unanswered = false;
    boolean renewed = false;
    long renewDue = Long.MAX_VALUE;
    int inFlight = 0;
    for (Held h : held.values()) {
      if (!h.renewing) {
        inFlight++;
        renewDue = Math.min(renewDue, renewalDue(h));
      } else if (h.renewed) {
        renewed = true;
      } else {
        unanswered = true;
      }
    }
    if (inFlight == 0) {
      return !unanswered && (renewed || (running && gate.open()));
    }
    if (!group.current().renewals() || System.nanoTime() < renewDue) {
      return false;
    }
    for (Held h : new ArrayList<>(held.values())) {
      if (!h.renewing && send(h, AcknowledgeType.RENEW)) {
        h.renewing = true;
        h.renewed = false;
        shareMetrics.renewed(h.record.topic());
      }
    }
    sendNow();
    return false;
  }

  /** Sends the acknowledgements given so far, and takes the broker's answers received. */
  private void sendNow() {
    client.commitAsync();
    lastSent = System.nanoTime();
    unsent = false;
  }

  private long renewalDue(Held h) {
    return h.lockFrom + (long) (lock.toNanos() * RENEW_AT);
  }

  private void poll() throws InterruptedException {
    // Renewed records are ready in the client: take them back without waiting.
    boolean renewing = held.values().stream().anyMatch(h -> h.renewing);
    Duration timeout = renewing ? Duration.ZERO : config.pollTimeout();
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
    lastSent = System.nanoTime();
    unsent = false;
    if (records.isEmpty()) {
      return;
    }
    long now = System.nanoTime();
    lock = client.acquisitionLockTimeoutMs().map(Duration::ofMillis).orElse(lock);
    List<ConsumerRecord<byte[], byte[]>> acquired = new ArrayList<>(records.count());
    for (TopicPartition tp : records.partitions()) {
      for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
        Held h = held.get(Coordinates.of(r));
        if (h == null) {
          acquired.add(r);
        } else if (h.renewing) {
          // Renewed: the same delivery, still in work (or answered meanwhile).
          h.renewing = false;
          h.renewed = false;
          h.record = r;
          h.lockFrom = now;
          if (h.answer != null) {
            acknowledge(h, h.answer);
          }
        } else {
          log.warn("idem share consumer {}: {} returned while held; ignored", name, r);
        }
      }
    }
    if (acquired.isEmpty()) {
      return;
    }
    ShareRecordTask.Delivery delivery = new ShareRecordTask.Delivery(now, lock);
    List<Held> fresh = new ArrayList<>(acquired.size());
    for (ConsumerRecord<byte[], byte[]> r : acquired) {
      Held h = new Held(r, delivery, now);
      held.put(h.coordinates(), h);
      fresh.add(h);
    }
    for (List<ConsumerRecord<byte[], byte[]>> chunk : chunks.split(acquired)) {
      List<Held> part = new ArrayList<>(chunk.size());
      chunk.forEach(r -> part.add(held.get(Coordinates.of(r))));
      jobs.add(
          new Job(
              part,
              (works, abandoned, answers) -> chunks.run(works, delivery, abandoned, answers)));
    }
  }

  /** Starts waiting jobs and due pauses, up to {@code consumer.concurrency} runs at once. */
  private void startJobs() {
    long now = System.nanoTime();
    while (!timers.isEmpty() && timers.peek().dueNanos() <= now) {
      jobs.add(timers.poll().job());
    }
    while (runs < config.concurrency() && !jobs.isEmpty()) {
      Job job = jobs.poll();
      List<Held> live = new ArrayList<>(job.records().size());
      for (Held h : job.records()) {
        if (held.get(h.coordinates()) == h) {
          live.add(h);
        }
      }
      if (live.isEmpty()) {
        continue; // their deliveries ended meanwhile (a renewal refused)
      }
      submit(new Job(live, job.body()));
    }
  }

  private void submit(Job job) {
    Run run = new Run(job.records());
    job.records().forEach(h -> h.run = run);
    runs++;
    workers.execute(
        () -> {
          Watchdog.Attempt attempt = watchdog.started(run.works, run::abandon);
          Throwable failure = null;
          try {
            job.body()
                .run(run.works, run::abandoned, (r, a) -> results.add(new Answered(run, r, a)));
          } catch (Throwable t) {
            failure = t;
          } finally {
            watchdog.ended(attempt);
            run.end();
            results.add(new RunEnded(run, failure));
          }
        });
  }

  /**
   * Waits for the workers' results until the next thing due: a renewal, a pause's end, sending the
   * answers of a group that does not renew, the drain's end, or one poll timeout.
   */
  private void await() throws InterruptedException {
    long now = System.nanoTime();
    long until = now + config.pollTimeout().toNanos();
    boolean renewals = group.current().renewals();
    boolean unanswered = false;
    for (Held h : held.values()) {
      if (!h.renewing && renewals) {
        until = Math.min(until, renewalDue(h));
      }
      unanswered |= h.renewing && !h.renewed;
    }
    if (unanswered) {
      until = Math.min(until, now + RENEWAL_CHECK.toNanos());
    }
    if (!timers.isEmpty()) {
      until = Math.min(until, timers.peek().dueNanos());
    }
    if (unsent) {
      until = Math.min(until, lastSent + lock.toNanos() / 4);
    }
    Result result = results.poll(Math.max(0, until - now), TimeUnit.NANOSECONDS);
    while (result != null) {
      handle(result);
      result = results.poll();
    }
    if (unanswered
        || (unsent && !held.isEmpty() && System.nanoTime() - lastSent >= lock.toNanos() / 4)) {
      // The held records keep the next poll back: send the answers given so far before their
      // locks run out, and take the broker's answers to renewals (the client hands them over in
      // this call).
      sendNow();
    }
  }

  private void handle(Result result) {
    if (result instanceof Answered a) {
      answered(a);
    } else if (result instanceof RunEnded e) {
      runEnded(e);
    } else if (result instanceof Abandoned a) {
      abandoned(a);
    }
  }

  private void answered(Answered a) {
    Held h = held.get(Coordinates.of(a.record()));
    if (a.run().given || h == null || h.run != a.run()) {
      // Its delivery ended while it ran (a renewal refused, a hang given up): the broker has
      // the record back, and whatever this run did is deduplicated by the event's lock and mark.
      if (!(a.answer() instanceof ShareRecordTask.Dropped)) {
        shareMetrics.lateAnswer(a.record().topic());
        log.info(
            "idem share consumer {}: the answer {} for {}-{}@{} came after its delivery ended;"
                + " dropped",
            name,
            a.answer(),
            a.record().topic(),
            a.record().partition(),
            a.record().offset());
      }
      return;
    }
    if (a.answer() instanceof ShareRecordTask.Ack ack) {
      acknowledge(h, ack.type());
    } else if (a.answer() instanceof ShareRecordTask.Later later) {
      h.run = null;
      timers.add(
          new Timed(
              System.nanoTime() + later.pause().toNanos(),
              new Job(
                  List.of(h),
                  (works, abandoned, answers) ->
                      answers.accept(works.get(0).record(), later.next().run(abandoned)))));
    }
    // Dropped: only a run the watchdog gave up drops, and its answers do not come here.
  }

  private void runEnded(RunEnded e) {
    if (e.run().given) {
      return; // its slot was freed when the watchdog gave it up
    }
    runs--;
    for (Held h : e.run().records) {
      if (held.get(h.coordinates()) == h && h.run == e.run()) {
        // Its run failed before answering: the broker redelivers it.
        log.error(
            "idem share consumer {}: {}-{}@{} left without an answer; released",
            name,
            h.record.topic(),
            h.record.partition(),
            h.record.offset());
        acknowledge(h, AcknowledgeType.RELEASE);
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
  private void abandoned(Abandoned a) {
    Run run = a.run();
    run.given = true;
    runs--;
    List<Held> unanswered = new ArrayList<>();
    for (Held h : run.records) {
      if (held.get(h.coordinates()) == h && h.run == run) {
        h.run = null;
        unanswered.add(h);
      }
    }
    if (unanswered.size() == 1) {
      Held h = unanswered.get(0);
      HungAttemptException failure = a.failure();
      jobs.addFirst(
          new Job(
              List.of(h),
              (works, abandoned, answers) ->
                  answers.accept(
                      works.get(0).record(),
                      task.afterHang(
                          works.get(0).record(), failure.eventId(), failure, abandoned))));
      return;
    }
    for (Held h : unanswered) {
      jobs.addFirst(
          new Job(
              List.of(h),
              (works, abandoned, answers) -> chunks.run(works, h.delivery, abandoned, answers)));
    }
  }

  private void acknowledge(Held h, AcknowledgeType type) {
    if (h.renewing) {
      h.answer = type; // acknowledged once a poll returns it
      return;
    }
    held.remove(h.coordinates());
    send(h, type);
  }

  /**
   * Acknowledges {@code h}'s record with {@code type}; a record the client no longer holds (it
   * refuses with an {@link IllegalStateException}) leaves the held records: the broker has it.
   */
  private boolean send(Held h, AcknowledgeType type) {
    try {
      client.acknowledge(h.record, type);
      unsent = true;
      return true;
    } catch (IllegalStateException e) {
      held.remove(h.coordinates());
      log.warn(
          "idem share consumer {}: the client no longer holds {}-{}@{} ({}); its delivery ended",
          name,
          h.record.topic(),
          h.record.partition(),
          h.record.offset(),
          e.getMessage());
      return false;
    }
  }

  /** The held records go back to the broker; those being renewed come back when it closes. */
  private void releaseHeld() {
    for (Held h : new ArrayList<>(held.values())) {
      if (h.renewing) {
        continue;
      }
      try {
        if (h.record.deliveryCount().map(Short::intValue).orElse(1)
            >= group.current().deliveryLimit()) {
          log.error(
              "idem share consumer {}: closing with {}-{}@{} unfinished on the share group's"
                  + " last delivery; released, the broker archives it",
              name,
              h.record.topic(),
              h.record.partition(),
              h.record.offset());
        }
        client.acknowledge(h.record, AcknowledgeType.RELEASE);
      } catch (RuntimeException e) {
        break; // the client is closed: the broker redelivers them after their locks
      }
    }
    held.clear();
  }

  /**
   * The broker's answer to acknowledgements, on the poll thread: the client sends them with the
   * next poll (one round trip fewer per poll than a {@code commitSync}), a {@code commitAsync}, or
   * at close. A refused renewal ends that record's delivery here.
   */
  private void acknowledged(Map<TopicIdPartition, Set<Long>> offsets, Exception failure) {
    if (failure == null) {
      lastCommit = clock.instant();
      offsets.forEach(
          (tp, set) -> {
            for (long offset : set) {
              Held h = held.get(new Coordinates(tp.topic(), tp.partition(), offset));
              if (h != null && h.renewing) {
                h.renewed = true;
              }
            }
          });
      return;
    }
    boolean others = false;
    for (Map.Entry<TopicIdPartition, Set<Long>> e : offsets.entrySet()) {
      TopicIdPartition tp = e.getKey();
      for (long offset : e.getValue()) {
        Coordinates c = new Coordinates(tp.topic(), tp.partition(), offset);
        Held h = held.get(c);
        if (h != null && h.renewing) {
          held.remove(c);
          shareMetrics.renewalRefused(tp.topic());
          group.stale(); // renewals may have been turned off on the group
          log.warn(
              "idem share consumer {}: the broker refused to renew the lock of {}-{}@{} ({}); its"
                  + " delivery ends, the record goes to another one",
              name,
              tp.topic(),
              tp.partition(),
              offset,
              failure.toString());
        } else {
          // Mostly a lock that expired while the handler ran: the record went to another
          // consumer, whose copy waits on the event's advisory lock and is skipped.
          shareMetrics.acknowledgementFailed(tp.topic());
          others = true;
        }
      }
    }
    if (others) {
      log.info(
          "consumer {}: the broker refused acknowledgements of {}: {}",
          name,
          offsets,
          failure.toString());
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
            .lastCommit(lastCommit)
            .brokerReachable(reachable)
            .build());
  }
}
