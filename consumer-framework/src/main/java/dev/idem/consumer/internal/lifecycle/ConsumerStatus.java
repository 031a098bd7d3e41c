package dev.idem.consumer.internal.lifecycle;

import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.ConsumerState;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The one source of a consumer's {@link ConsumerState}, and the snapshot that carries it. The
 * facade moves the state on start and close, the poll loop when it stops on its own, a background
 * check when it stops the consumer; every published snapshot carries the state of this holder, so
 * {@code snapshot()}, {@code health()} and the lifecycle checks never disagree.
 *
 * <p>The states move forward only: {@code CREATED -> STARTING -> RUNNING}, {@code STARTING|RUNNING
 * -> FAILED}, and from anything but {@code CLOSED} to {@code CLOSING -> CLOSED}.
 */
public final class ConsumerStatus {
  private final AtomicReference<ConsumerSnapshot> snapshot;
  private volatile ConsumerState state = ConsumerState.CREATED;

  /** The {@code at} of the poll thread's last snapshot, or null before its first. */
  private volatile Instant lastPoll;

  /**
   * {@link System#nanoTime()} of the poll thread's last sign of life: its last snapshot, or the
   * move to {@code RUNNING} (the poll thread starts right after it) when it has published none
   * since; 0 before. Monotonic, so that a wall clock set back or forth never makes a loop look
   * stalled.
   */
  private volatile long lastSignNanos;

  /** A holder in state {@code CREATED}, with an empty snapshot taken {@code at}. */
  public ConsumerStatus(Instant at) {
    this.snapshot = new AtomicReference<>(ConsumerSnapshot.builder(state, at).build());
  }

  /** The current state. */
  public ConsumerState state() {
    return state;
  }

  /** The latest snapshot; its state is the current one. */
  public ConsumerSnapshot snapshot() {
    return snapshot.get();
  }

  /**
   * Publishes {@code fresh} with the current state in place of its own. A transition racing with
   * this call still wins: it writes the state before it updates the snapshot, and each update reads
   * the state again.
   */
  public void publish(ConsumerSnapshot fresh) {
    snapshot.updateAndGet(previous -> withState(fresh, state));
    lastPoll = fresh.at();
    lastSignNanos = System.nanoTime();
  }

  /** When the poll thread last published a snapshot, or null when it has not yet. */
  public Instant lastPoll() {
    return lastPoll;
  }

  /**
   * How long ago the poll thread last published a snapshot, or, before its first one, how long ago
   * the consumer moved to {@code RUNNING}; zero before that. Measured on the monotonic clock.
   */
  public Duration sinceLastPoll() {
    long since = lastSignNanos;
    return since == 0 ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - since);
  }

  /**
   * The consumer's health, for both consumer kinds: state, partitions, last commit, in-flight
   * records and broker connection from the latest snapshot, the poll thread's last sign of life,
   * and what the runtime's {@code signals} say.
   *
   * @param maxAbandonedWorkers {@code consumer.max-abandoned-workers}
   * @param pollStallTimeout how long a running poll thread may stay silent
   */
  public ConsumerHealth health(
      String consumerName,
      RuntimeSignals signals,
      int maxAbandonedWorkers,
      Duration pollStallTimeout) {
    ConsumerSnapshot s = snapshot();
    return ConsumerHealth.builder(consumerName, s.state())
        .assigned(s.assigned())
        .lastCommit(s.lastCommit())
        .databaseReachable(signals.databaseReachable())
        .inFlight(s.inFlight())
        .stuckWorkers(signals.stuckWorkers())
        .maxAbandonedWorkers(maxAbandonedWorkers)
        .brokerReachable(s.brokerReachable())
        .lastPoll(lastPoll)
        .sinceLastPoll(sinceLastPoll())
        .pollStallTimeout(pollStallTimeout)
        .build();
  }

  /**
   * {@code CREATED -> STARTING}.
   *
   * @throws IllegalStateException naming the state when the consumer was started before
   */
  public synchronized void starting(String consumerName) {
    if (state != ConsumerState.CREATED) {
      throw new IllegalStateException(
          "consumer "
              + consumerName
              + " cannot start in state "
              + state
              + ": a consumer starts once; build a new one");
    }
    move(ConsumerState.STARTING);
  }

  /** {@code STARTING -> RUNNING}; false (and no change) from any other state. */
  public synchronized boolean running() {
    if (state != ConsumerState.STARTING) {
      return false;
    }
    // Counts as the poll thread's first sign: a consumer built long before its start must not look
    // stalled until its first poll.
    lastSignNanos = System.nanoTime();
    return move(ConsumerState.RUNNING);
  }

  /** {@code STARTING|RUNNING -> FAILED}; false (and no change) when closing or already stopped. */
  public synchronized boolean failed() {
    return (state == ConsumerState.STARTING || state == ConsumerState.RUNNING)
        && move(ConsumerState.FAILED);
  }

  /** Any state but {@code CLOSED} {@code -> CLOSING}; false when already closed. */
  public synchronized boolean closing() {
    return state != ConsumerState.CLOSED && move(ConsumerState.CLOSING);
  }

  /** {@code -> CLOSED}, for good. */
  public synchronized void closed() {
    move(ConsumerState.CLOSED);
  }

  private boolean move(ConsumerState next) {
    state = next;
    snapshot.updateAndGet(s -> withState(s, state));
    return true;
  }

  private static ConsumerSnapshot withState(ConsumerSnapshot s, ConsumerState state) {
    if (s.state() == state) {
      return s;
    }
    return s.toBuilder().state(state).build();
  }
}
