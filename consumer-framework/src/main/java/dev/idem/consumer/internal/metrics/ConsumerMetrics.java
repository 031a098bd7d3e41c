package dev.idem.consumer.internal.metrics;

import dev.idem.consumer.ConsumerSnapshot;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.apache.kafka.common.TopicPartition;

/**
 * idem's meters for one consumer, all under the {@code idem.} prefix and tagged with {@code
 * consumer} and {@code topic}. Totals over all topics are kept too, for the consumer's snapshot.
 */
public final class ConsumerMetrics {
  private final MeterRegistry registry;
  private final String consumer;
  private final Map<String, TopicMeters> topics = new ConcurrentHashMap<>();
  private final Map<TopicPartition, AtomicLong> lags = new ConcurrentHashMap<>();
  private final AtomicLong processed = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final AtomicLong retries = new AtomicLong();
  private final AtomicLong deadLettered = new AtomicLong();
  private final AtomicLong skipped = new AtomicLong();
  private final AtomicLong parked = new AtomicLong();

  public ConsumerMetrics(MeterRegistry registry, String consumer) {
    this.registry = registry;
    this.consumer = consumer;
  }

  private TopicMeters topic(String topic) {
    return topics.computeIfAbsent(topic, this::register);
  }

  private TopicMeters register(String topic) {
    Tags tags = Tags.of("consumer", consumer, "topic", topic);
    return new TopicMeters(
        Counter.builder("idem.records.processed")
            .description("Records whose handler ran and committed")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.duplicates")
            .description("Records skipped because their event id was already handled")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.failures")
            .description("Failed processing attempts")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.retries")
            .description("Attempts scheduled after a failure")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.dead.lettered")
            .description("Records given up on and written to the dead letters")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.parked")
            .description(
                "Records dead-lettered behind an earlier dead letter of their ordering key"
                    + " (park-key mode)")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.skipped")
            .description(
                "Records not processed because PostgreSQL already recorded their offset as done")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.records.lock.waits")
            .description(
                "Lock timeouts on an event id's lock, held by a copy of the event elsewhere, that"
                    + " were waited out without using up an attempt")
            .tags(tags)
            .register(registry),
        Counter.builder("idem.workers.abandoned")
            .description(
                "Runs given up because their transaction outlived lock-timeout + handler-timeout;"
                    + " their worker thread was interrupted and replaced")
            .tags(tags)
            .register(registry),
        // Percentile histograms on the two timers a dashboard shows as p50/p99 across a fleet
        // (histograms aggregate over instances; client-side percentiles do not).
        Timer.builder("idem.lock.wait")
            .description("Time spent waiting for the event's advisory lock")
            .publishPercentileHistogram()
            .tags(tags)
            .register(registry),
        Timer.builder("idem.handler.time")
            .description("Time spent in the user's handler")
            .tags(tags)
            .register(registry),
        Timer.builder("idem.transaction.time")
            .description("Time from BEGIN to COMMIT or ROLLBACK")
            .publishPercentileHistogram()
            .tags(tags)
            .register(registry));
  }

  /** The {@code idem.records.in.flight} gauge. */
  public void registerInFlight(Supplier<Number> inFlight) {
    Gauge.builder("idem.records.in.flight", inFlight)
        .description("Records handed to workers and not yet done")
        .tag("consumer", consumer)
        .register(registry);
  }

  /**
   * The {@code idem.workers.stuck} gauge: worker threads stuck past their timeouts (abandoned and
   * not returned yet, or overdue and kept).
   */
  public void registerStuckWorkers(Supplier<Number> stuck) {
    Gauge.builder("idem.workers.stuck", stuck)
        .description(
            "Worker threads stuck past lock-timeout + handler-timeout: abandoned and not returned"
                + " yet, or overdue and kept because consumer.max-abandoned-workers are alive")
        .tag("consumer", consumer)
        .register(registry);
  }

  /** Sets the lag of a partition; registers its {@code idem.consumer.lag} gauge on first use. */
  public void lag(TopicPartition tp, long lag) {
    AtomicLong value =
        lags.computeIfAbsent(
            tp,
            p -> {
              AtomicLong v = new AtomicLong();
              Gauge.builder("idem.consumer.lag", v, AtomicLong::get)
                  .description("Records between the consumer's position and the partition's end")
                  .tags(
                      "consumer",
                      consumer,
                      "topic",
                      p.topic(),
                      "partition",
                      Integer.toString(p.partition()))
                  .register(registry);
              return v;
            });
    value.set(lag);
  }

  /** Removes the lag gauges of partitions this instance no longer owns. */
  public void forgetLag(Collection<TopicPartition> tps) {
    for (TopicPartition tp : tps) {
      if (lags.remove(tp) != null) {
        Meter gauge =
            registry
                .find("idem.consumer.lag")
                .tags(
                    "consumer",
                    consumer,
                    "topic",
                    tp.topic(),
                    "partition",
                    Integer.toString(tp.partition()))
                .gauge();
        if (gauge != null) {
          registry.remove(gauge);
        }
      }
    }
  }

  public void processed(String topic) {
    processed.incrementAndGet();
    topic(topic).processed.increment();
  }

  public void duplicate(String topic) {
    duplicates.incrementAndGet();
    topic(topic).duplicates.increment();
  }

  public void failure(String topic) {
    failures.incrementAndGet();
    topic(topic).failures.increment();
  }

  public void retry(String topic) {
    retries.incrementAndGet();
    topic(topic).retries.increment();
  }

  public void deadLettered(String topic) {
    deadLettered.incrementAndGet();
    topic(topic).deadLettered.increment();
  }

  /** A record queued behind its parked key; it counts as dead-lettered too. */
  public void parked(String topic) {
    parked.incrementAndGet();
    topic(topic).parked.increment();
    deadLettered(topic);
  }

  public void skipped(String topic) {
    skipped.incrementAndGet();
    topic(topic).skipped.increment();
  }

  /** A run was abandoned by the watchdog (its failure is counted by {@link #failure}). */
  public void abandonedWorker(String topic) {
    topic(topic).abandoned.increment();
  }

  /**
   * A record's wait for its event id's lock timed out while the holder was within its bound; it
   * waits again without using up an attempt.
   */
  public void lockWaitTimeout(String topic) {
    topic(topic).lockWaits.increment();
  }

  public void lockWait(String topic, long nanos) {
    topic(topic).lockWait.record(Duration.ofNanos(nanos));
  }

  public void handlerTime(String topic, long nanos) {
    topic(topic).handler.record(Duration.ofNanos(nanos));
  }

  public void transactionTime(String topic, long nanos) {
    topic(topic).transaction.record(Duration.ofNanos(nanos));
  }

  /**
   * The transaction hook threw after a transaction committed (a Spring {@code afterCommit}
   * callback): the record stays done, its after-commit effect may be missing.
   */
  public void afterCommitFailure(String topic) {
    Counter.builder("idem.hooks.after-commit.failures")
        .description(
            "Exceptions thrown by the transaction hook's after-commit work (Spring afterCommit"
                + " callbacks); the records had committed and stay done")
        .tag("consumer", consumer)
        .tag("topic", topic)
        .register(registry)
        .increment();
  }

  /**
   * A handler or convention of the consumer's {@code ObservationRegistry} (user code) threw while
   * an attempt was observed, in {@code phase} ({@code start}, {@code scope} or {@code stop}); the
   * attempt went on without it. Registered on the first failure: rare, and absent while tracing
   * works.
   */
  public void observationFailure(String topic, String phase) {
    Counter.builder("idem.observation.failures")
        .description(
            "Failures of the ObservationRegistry's handlers and conventions while observing idem's"
                + " transactions; records are processed regardless")
        .tags("consumer", consumer, "topic", topic, "phase", phase)
        .register(registry)
        .increment();
  }

  /** {@code snapshot} with this consumer's counts of records and attempts so far. */
  public ConsumerSnapshot.Builder counted(ConsumerSnapshot.Builder snapshot) {
    return snapshot
        .processed(processed())
        .duplicates(duplicates())
        .failures(failures())
        .retries(retries())
        .deadLettered(deadLettered())
        .skipped(skipped());
  }

  public long processed() {
    return processed.get();
  }

  public long duplicates() {
    return duplicates.get();
  }

  public long failures() {
    return failures.get();
  }

  public long retries() {
    return retries.get();
  }

  public long deadLettered() {
    return deadLettered.get();
  }

  public long skipped() {
    return skipped.get();
  }

  public long parked() {
    return parked.get();
  }

  private record TopicMeters(
      Counter processed,
      Counter duplicates,
      Counter failures,
      Counter retries,
      Counter deadLettered,
      Counter parked,
      Counter skipped,
      Counter lockWaits,
      Counter abandoned,
      Timer lockWait,
      Timer handler,
      Timer transaction) {}
}
