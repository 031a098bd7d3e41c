package dev.idem.chaos;

import java.time.Duration;
import java.util.List;

/**
 * The timeouts of a share-group run's consumers and how long its hung and slow-failing handlers
 * take, all derived from the group's record lock, so that each handler meets the fate the run
 * expects of it.
 *
 * <ul>
 *   <li>A slow-failing handler sleeps {@link #slowFail()}, 1.2 record locks, then throws. Its
 *       transaction stays within the server's idle bound ({@link #handlerTimeout()}, 0.9 s more)
 *       and within the watchdog's limit even after a full {@link #lockTimeout()} of waiting for the
 *       event's lock behind a copy's attempt: it always fails as a handler failure, never as a
 *       hang.
 *   <li>A hung handler blocks {@link #hang()}, four seconds past the watchdog's limit ({@link
 *       #watchdogLimit()}: lock-timeout + handler-timeout + 1 s), so that the watchdog gives up
 *       every delivery of it, with room for a check that comes late on a loaded machine. It is
 *       bounded, so an abandoned thread ends and its process can close.
 * </ul>
 *
 * <p>The hung record's five deliveries take about five watchdog limits, which sets the length of a
 * short run: the timeouts are as short as the slow-failing handler allows.
 *
 * @param lockTimeout {@code consumer.lock-timeout}: short, so that a copy waiting behind a hung or
 *     slow attempt gives up quickly and the watchdog's limit stays short
 * @param handlerTimeout {@code consumer.handler-timeout}
 * @param slowFail how long a slow-failing handler sleeps before it throws
 * @param hang how long a hung handler blocks, ignoring interrupts
 * @param maxAbandonedWorkers {@code consumer.max-abandoned-workers}: enough that the watchdog never
 *     stops abandoning because hung threads still block
 */
record ShareTimings(
    Duration lockTimeout,
    Duration handlerTimeout,
    Duration slowFail,
    Duration hang,
    int maxAbandonedWorkers) {

  /** The watchdog's grace past lock-timeout + handler-timeout. */
  private static final Duration WATCHDOG_GRACE = Duration.ofSeconds(1);

  /** The timings for a group whose records are locked for {@code recordLock}. */
  static ShareTimings of(Duration recordLock) {
    Duration slowFail = recordLock.multipliedBy(6).dividedBy(5);
    Duration lockTimeout = Duration.ofMillis(500);
    Duration handlerTimeout = slowFail.plusMillis(900);
    Duration hang = lockTimeout.plus(handlerTimeout).plus(WATCHDOG_GRACE).plusSeconds(4);
    return new ShareTimings(lockTimeout, handlerTimeout, slowFail, hang, 8);
  }

  /** How long a transaction may stay open before the watchdog gives its run up. */
  Duration watchdogLimit() {
    return lockTimeout.plus(handlerTimeout).plus(WATCHDOG_GRACE);
  }

  /** The consumer process arguments that carry these timings. */
  List<String> args() {
    return List.of(
        "lock-timeout-ms=" + lockTimeout.toMillis(),
        "handler-timeout-ms=" + handlerTimeout.toMillis(),
        "max-abandoned-workers=" + maxAbandonedWorkers,
        "slow-fail-ms=" + slowFail.toMillis(),
        "hang-ms=" + hang.toMillis());
  }

  @Override
  public String toString() {
    return "lock-timeout="
        + lockTimeout.toMillis()
        + "ms handler-timeout="
        + handlerTimeout.toMillis()
        + "ms watchdog-limit="
        + watchdogLimit().toMillis()
        + "ms slow-fail="
        + slowFail.toMillis()
        + "ms hang="
        + hang.toMillis()
        + "ms max-abandoned-workers="
        + maxAbandonedWorkers;
  }
}
