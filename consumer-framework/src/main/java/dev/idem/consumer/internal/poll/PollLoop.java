package dev.idem.consumer.internal.poll;

import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.OrderingKey;
import dev.idem.consumer.internal.dispatch.Completion;
import dev.idem.consumer.internal.dispatch.Dispatcher;
import dev.idem.consumer.internal.dispatch.Work;
import dev.idem.consumer.internal.health.BrokerConnections;
import dev.idem.consumer.internal.lifecycle.ConsumerStatus;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.offset.OffsetTracker;
import dev.idem.consumer.internal.offset.StoredOffsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread that owns the {@link Consumer}: polls, hands records to the dispatcher, folds
 * completions into offset watermarks, commits them, pauses for backpressure and handles rebalances.
 * No other thread touches the Kafka client; others read the published {@link ConsumerSnapshot}.
 *
 * <p>Over 400 lines: the poll, the rebalance callbacks, the watermark commits and the backpressure
 * pauses all work on the loop's thread-confined state (assignment epochs, trackers, paused sets);
 * split over classes, that state would have to be shared and guarded. The pieces that need no such
 * state live elsewhere: {@code OffsetTracker}, {@code DatabaseOffsets}, {@code Dispatcher}.
 */
public final class PollLoop implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(PollLoop.class);

  private final IdemConfig config;
  private final Function<Map<String, Object>, Consumer<byte[], byte[]>> consumerFactory;
  private final Dispatcher dispatcher;
  private final OffsetTracker tracker = new OffsetTracker();
  private final ConsumerMetrics metrics;
  private final OrderingKey orderingKey;
  private final Clock clock;
  private final int maxPollRecords;
  private final ConsumerStatus status;
  private final StoredOffsets storedOffsets;

  /** Partitions paused until their stored position is read and sought (offsets in PostgreSQL). */
  private final Set<TopicPartition> awaitingPosition = new HashSet<>();

  /** Partitions paused at their own bound (for the log of pauses and resumes). */
  private final Set<TopicPartition> heldAlone = new HashSet<>();

  private final BrokerConnections brokerConnections = new BrokerConnections();

  private volatile boolean closing;
  private long rebalances;
  private volatile boolean crashed;
  private volatile boolean clientClosed;
  private Consumer<byte[], byte[]> consumer;
  private Instant lastCommit;
  private long nextCommitNanos;
  private long nextLagNanos;

  /**
   * @param status where the loop publishes its snapshots, and reports that it stopped on its own
   * @param storedOffsets the offsets kept in PostgreSQL, or {@link StoredOffsets#KAFKA}
   */
  public PollLoop(
      PollSettings settings,
      Dispatcher dispatcher,
      ConsumerMetrics metrics,
      ConsumerStatus status,
      StoredOffsets storedOffsets) {
    this.config = settings.config();
    this.consumerFactory = settings.clientFactory();
    this.dispatcher = dispatcher;
    this.metrics = metrics;
    this.orderingKey = settings.orderingKey();
    this.clock = settings.clock();
    this.maxPollRecords = settings.maxPollRecords();
    int isolates = config.maxInFlightPerPartition() + 2 * maxPollRecords - 1;
    if (config.maxInFlight() < isolates) {
      // A partition may hold its own bound plus one poll; another poll must still fit beside it.
      log.warn(
          "consumer {}: consumer.max-in-flight={} cannot keep the other partitions flowing while one"
              + " partition is full: that needs consumer.max-in-flight-per-partition + 2 x"
              + " kafka.max.poll.records - 1 = {}; raise consumer.max-in-flight or lower the others",
          config.consumerName(),
          config.maxInFlight(),
          isolates);
    }
    this.status = status;
    this.storedOffsets = storedOffsets;
  }

  /**
   * Asks the loop to finish in-flight work, commit and leave the group. The loop notices within one
   * poll timeout; no wakeup is used, since a pending wakeup would abort the final commit.
   */
  public void close() {
    closing = true;
  }

  /** Stops the loop without committing anything more, as if the process died. */
  public void crash() {
    crashed = true;
  }

  /** Whether the loop was stopped by {@link #crash()} or a failure. */
  public boolean crashed() {
    return crashed;
  }

  @Override
  public void run() {
    try {
      consumer = consumerFactory.apply(config.kafka());
      consumer.subscribe(config.topics(), new Rebalance());
      nextCommitNanos = System.nanoTime() + config.commitInterval().toNanos();
      while (!closing && !crashed) {
        loopOnce();
      }
      if (crashed) {
        log.warn(
            "consumer {} stopped without committing (simulated crash or fatal error)",
            config.consumerName());
      } else {
        shutdown();
      }
    } catch (RuntimeException | Error e) {
      if (!crashed) {
        log.error("consumer {} poll loop failed; stopping", config.consumerName(), e);
        crashed = true;
      }
      throw e;
    } finally {
      closeClient();
      if (crashed) {
        status.failed(); // no change while closing: close() owns the state then
      }
      publish();
    }
  }

  private void loopOnce() {
    drainCompletions();
    applyStoredPositions();
    commitIfDue();
    boolean allHeld = applyBackpressure();
    ConsumerRecords<byte[], byte[]> records;
    try {
      // With every partition paused a poll can return nothing, and would only wait out its
      // timeout while a batch that commits meanwhile leaves its partition idle: poll without
      // waiting (the group's work still runs), then wait for records to leave flight instead.
      records = consumer.poll(allHeld ? Duration.ZERO : config.pollTimeout());
    } catch (WakeupException e) {
      return; // only a user's wakeup of a shared client gets here; poll again
    }
    if (allHeld && records.isEmpty()) {
      try {
        dispatcher.awaitRelease(config.pollTimeout());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    if (System.nanoTime() >= nextLagNanos) {
      nextLagNanos = System.nanoTime() + 1_000_000_000L;
      for (TopicPartition tp : consumer.assignment()) {
        consumer.currentLag(tp).ifPresent(lag -> metrics.lag(tp, lag));
      }
    }
    for (ConsumerRecord<byte[], byte[]> record : records) {
      TopicPartition tp = new TopicPartition(record.topic(), record.partition());
      long epoch = tracker.epoch(tp);
      if (epoch < 0) {
        continue; // revoked inside this poll; will be redelivered to the new owner
      }
      tracker.track(tp, record.offset());
      if (storedOffsets.isDone(tp, record.offset())) {
        // Its transaction committed before (PostgreSQL says so): no transaction again.
        tracker.done(tp, epoch, record.offset());
        metrics.skipped(record.topic());
        continue;
      }
      dispatcher.submit(new Work(record, tp, epoch, orderingKey(record)));
    }
    publish();
  }

  private Object orderingKey(ConsumerRecord<byte[], byte[]> record) {
    return OrderingKeyValues.read(orderingKey, record);
  }

  private void drainCompletions() {
    Completion c;
    while ((c = dispatcher.completions().poll()) != null) {
      tracker.done(c.partition(), c.epoch(), c.offset());
    }
  }

  /**
   * Offsets in PostgreSQL: seeks partitions whose stored state was read to the position to resume
   * from, and lets them be polled. The position is the greater of the stored one and Kafka's
   * committed offset: Kafka's is only ever written for records done in the database, so one ahead
   * of the stored position is safe (a fold that has not happened yet, or an operator's skip
   * forward), while one behind it (a reset to an earlier offset) is ignored.
   */
  private void applyStoredPositions() {
    if (awaitingPosition.isEmpty()) {
      return;
    }
    List<StoredOffsets.Loaded> ready = new ArrayList<>();
    for (StoredOffsets.Loaded l : storedOffsets.takeLoaded()) {
      if (awaitingPosition.contains(l.partition()) && tracker.epoch(l.partition()) == l.epoch()) {
        ready.add(l);
      }
    }
    if (ready.isEmpty()) {
      return;
    }
    Set<TopicPartition> tps = new HashSet<>();
    ready.forEach(l -> tps.add(l.partition()));
    Map<TopicPartition, OffsetAndMetadata> committed;
    try {
      committed = consumer.committed(tps, Duration.ofSeconds(5));
    } catch (RuntimeException e) {
      log.warn("cannot read Kafka's committed offsets of {} ({}); retrying", tps, e.toString());
      storedOffsets.retryLater(ready);
      return;
    }
    for (StoredOffsets.Loaded l : ready) {
      TopicPartition tp = l.partition();
      Long stored = l.stored().next();
      OffsetAndMetadata kafka = committed.get(tp);
      Long position = stored;
      if (kafka != null && (position == null || kafka.offset() > position)) {
        position = kafka.offset();
      }
      if (position != null) {
        consumer.seek(tp, position);
      }
      storedOffsets.skip(tp, l.stored().done(), position == null ? 0 : position);
      awaitingPosition.remove(tp);
      log.info(
          "{}: stored position {}, Kafka committed {}, resuming at {}; {} offsets above it done",
          tp,
          stored == null ? "none" : stored,
          kafka == null ? "none" : kafka.offset(),
          position == null ? "the reset policy's offset" : position,
          position == null
              ? l.stored().done().size()
              : l.stored().done().tailSet(position, true).size());
    }
  }

  private void commitIfDue() {
    if (System.nanoTime() < nextCommitNanos) {
      return;
    }
    nextCommitNanos = System.nanoTime() + config.commitInterval().toNanos();
    storedOffsets.foldAsync(tracker.watermarks());
    Map<TopicPartition, OffsetAndMetadata> offsets = tracker.committable();
    if (offsets.isEmpty()) {
      return;
    }
    tracker.committed(offsets);
    consumer.commitAsync(
        offsets,
        (committed, error) -> {
          if (error == null) {
            tracker.commitConfirmed(committed);
            lastCommit = clock.instant();
          } else {
            tracker.commitFailed(offsets);
            log.warn("async commit of {} failed; will retry: {}", offsets, error.toString());
          }
        });
  }

  /**
   * Pauses what must not be fetched now and resumes the rest. The whole consumer pauses when a full
   * poll would not fit under {@code consumer.max-in-flight} (or the byte bound is reached). A
   * single partition pauses when it holds {@code consumer.max-in-flight-per-partition} records in
   * flight (a retrying key with its queue behind it) or {@code
   * consumer.max-uncommitted-per-partition} records above its committable offset (finished records
   * behind one that is not), so one partition that cannot move does not stop the others, and the
   * offset tracker (and, with offsets in PostgreSQL, the done rows) stay bounded.
   *
   * @return whether every assigned partition is paused now
   */
  private boolean applyBackpressure() {
    Set<TopicPartition> assignment = consumer.assignment();
    if (assignment.isEmpty()) {
      return false;
    }
    // Poll only when a full poll fits under the bound, so in-flight never exceeds it.
    boolean full =
        dispatcher.inFlight() + maxPollRecords > config.maxInFlight()
            || dispatcher.inFlightBytes() >= config.maxInFlightBytes();
    Set<TopicPartition> hold = new HashSet<>();
    Map<TopicPartition, Integer> inFlight = dispatcher.inFlightByPartition();
    for (TopicPartition tp : assignment) {
      if (awaitingPosition.contains(tp) || full) {
        hold.add(tp);
        continue;
      }
      int running = inFlight.getOrDefault(tp, 0);
      int uncommitted = tracker.uncommitted(tp);
      if (running >= config.maxInFlightPerPartition()
          || uncommitted >= config.maxUncommittedPerPartition()) {
        hold.add(tp);
        if (heldAlone.add(tp)) {
          log.info(
              "consumer {}: pausing {} alone: {} records in flight (bound {}), {} above its"
                  + " committable offset (bound {})",
              config.consumerName(),
              tp,
              running,
              config.maxInFlightPerPartition(),
              uncommitted,
              config.maxUncommittedPerPartition());
        }
      } else if (heldAlone.remove(tp)) {
        log.info("consumer {}: resuming {}", config.consumerName(), tp);
      }
    }
    heldAlone.retainAll(assignment);
    Set<TopicPartition> paused = consumer.paused();
    Set<TopicPartition> pause = new HashSet<>(hold);
    pause.removeAll(paused);
    Set<TopicPartition> resume = new HashSet<>(paused);
    resume.removeAll(hold);
    if (!pause.isEmpty()) {
      consumer.pause(pause);
    }
    if (!resume.isEmpty()) {
      consumer.resume(resume);
    }
    return hold.size() == assignment.size();
  }

  private void shutdown() {
    publish();
    Set<TopicPartition> all = consumer.assignment();
    awaitInFlight(all, config.drainTimeout());
    finishPartitions(all);
    log.info("consumer {} closed", config.consumerName());
  }

  /** Waits for records of {@code tps} to finish, folding completions in as they arrive. */
  private void awaitInFlight(Set<TopicPartition> tps, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (dispatcher.inFlight(tps) > 0 && System.nanoTime() < deadline && !crashed) {
      drainCompletions();
      sleepQuietly(5);
    }
    if (dispatcher.inFlight(tps) > 0) {
      log.warn(
          "drain timeout {} reached with {}; their records will be redelivered and deduplicated",
          timeout,
          dispatcher.describe());
    }
  }

  /** Stops work on partitions, then commits their watermarks synchronously, once. */
  private void finishPartitions(Collection<TopicPartition> tps) {
    drainCompletions();
    dispatcher.forget(tps);
    Map<TopicPartition, OffsetAndMetadata> offsets = tracker.committable(tps);
    Map<TopicPartition, Long> positions = tracker.watermarks(tps);
    tracker.removed(tps);
    awaitingPosition.removeAll(tps);
    if (!crashed) {
      storedOffsets.foldAndWait(positions, Duration.ofSeconds(5));
    }
    storedOffsets.forget(tps);
    if (offsets.isEmpty() || crashed) {
      return;
    }
    try {
      consumer.commitSync(offsets, Duration.ofSeconds(10));
      lastCommit = clock.instant();
      log.info("committed {} on revoke/close", offsets);
    } catch (RuntimeException e) {
      log.warn(
          "synchronous commit of {} failed; those records will be redelivered and deduplicated",
          offsets,
          e);
    }
  }

  private void closeClient() {
    Consumer<byte[], byte[]> c = consumer;
    if (c == null) {
      return;
    }
    clientClosed = true;
    try {
      c.close(crashed ? Duration.ZERO : Duration.ofSeconds(10));
    } catch (RuntimeException e) {
      log.warn("closing the Kafka consumer failed", e);
    }
  }

  private void publish() {
    Consumer<byte[], byte[]> c = consumer;
    Set<TopicPartition> assigned = Set.of();
    Set<TopicPartition> paused = Set.of();
    boolean brokerReachable = false;
    if (c != null && !clientClosed) {
      try {
        assigned = new HashSet<>(c.assignment());
        paused = new HashSet<>(c.paused());
        brokerReachable = brokerConnections.reachable(c.metrics());
      } catch (IllegalStateException e) {
        // Closed meanwhile.
      }
    }
    Map<TopicPartition, Long> confirmed = new HashMap<>(tracker.confirmed());
    confirmed.values().removeIf(v -> v < 0);
    ConsumerSnapshot previous = status.snapshot();
    Map<TopicPartition, Long> committed = new HashMap<>(previous.committed());
    committed.putAll(confirmed);
    status.publish(
        metrics
            .counted(ConsumerSnapshot.builder(status.state(), clock.instant()))
            .assigned(assigned)
            .paused(paused)
            .uncommitted(tracker.uncommitted())
            .committed(committed)
            .inFlight(dispatcher.inFlight())
            .inFlightBytes(dispatcher.inFlightBytes())
            .rebalances(rebalances)
            .stuckWorkers(dispatcher.stuckWorkers())
            .lastCommit(lastCommit)
            .brokerReachable(brokerReachable)
            .build());
  }

  private static void sleepQuietly(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      rebalances++;
      tracker.assigned(partitions);
      Map<TopicPartition, Long> epochs = new HashMap<>();
      for (TopicPartition tp : partitions) {
        dispatcher.assigned(tp, tracker.epoch(tp));
        epochs.put(tp, tracker.epoch(tp));
      }
      // With offsets in PostgreSQL nothing is fetched for them until their stored position is
      // known.
      Set<TopicPartition> loading = storedOffsets.load(epochs);
      if (!loading.isEmpty()) {
        consumer.pause(loading);
        awaitingPosition.addAll(loading);
      }
      log.info("consumer {} assigned {}", member(), sorted(partitions));
      publish();
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      if (partitions.isEmpty() || crashed) {
        return;
      }
      Set<TopicPartition> tps = Set.copyOf(partitions);
      dispatcher.drop(tps);
      awaitInFlight(tps, config.drainTimeout());
      finishPartitions(tps);
      metrics.forgetLag(tps);
      log.info("consumer {} revoked {}", member(), sorted(partitions));
      publish();
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      Set<TopicPartition> tps = Set.copyOf(partitions);
      dispatcher.forget(tps);
      tracker.removed(tps);
      awaitingPosition.removeAll(tps);
      storedOffsets.forget(tps);
      metrics.forgetLag(tps);
      log.warn("consumer {} lost {}; nothing committed for them", member(), sorted(partitions));
      publish();
    }

    /** The consumer's name, and its group.instance.id under static membership. */
    private String member() {
      Object instance = config.kafka().get("group.instance.id");
      return instance == null
          ? config.consumerName()
          : config.consumerName() + " (instance " + instance + ")";
    }

    private static List<String> sorted(Collection<TopicPartition> partitions) {
      return partitions.stream().map(TopicPartition::toString).sorted().toList();
    }
  }
}
