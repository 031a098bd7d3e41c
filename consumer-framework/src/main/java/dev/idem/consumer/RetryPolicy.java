package dev.idem.consumer;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How often and how long apart a failed record is tried again, applied after the rollback.
 *
 * <p>The delay before attempt {@code n + 1} is {@code min(maxBackoff, initialBackoff *
 * multiplier^(n - 1))}, reduced by a random jitter of up to {@code jitter} of itself so that
 * instances that failed together do not retry together. After {@link #maxAttempts()} attempts the
 * record is given up: dead-lettered, and processing goes on.
 *
 * @param maxAttempts attempts in all, at least 1
 * @param initialBackoff the delay before the second attempt
 * @param maxBackoff the longest delay
 * @param multiplier the growth of the delay per attempt, at least 1
 * @param jitter the fraction of each delay that is random, from 0 to 1
 */
public record RetryPolicy(
    int maxAttempts,
    Duration initialBackoff,
    Duration maxBackoff,
    double multiplier,
    double jitter) {

  /** Validates the policy; the message names the setting. */
  public RetryPolicy {
    Objects.requireNonNull(initialBackoff, "initialBackoff");
    Objects.requireNonNull(maxBackoff, "maxBackoff");
    if (maxAttempts < 1) {
      throw new IdemConfigException(
          "consumer.retry.max-attempts", "must be at least 1, was " + maxAttempts);
    }
    if (initialBackoff.isNegative()) {
      throw new IdemConfigException(
          "consumer.retry.initial-backoff", "must not be negative, was " + initialBackoff);
    }
    if (maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IdemConfigException(
          "consumer.retry.max-backoff",
          "must be at least consumer.retry.initial-backoff ("
              + initialBackoff
              + "), was "
              + maxBackoff);
    }
    if (!(multiplier >= 1.0) || Double.isInfinite(multiplier)) {
      throw new IdemConfigException(
          "consumer.retry.multiplier", "must be a number of at least 1, was " + multiplier);
    }
    if (!(jitter >= 0.0 && jitter <= 1.0)) {
      throw new IdemConfigException(
          "consumer.retry.jitter", "must be between 0 and 1, was " + jitter);
    }
  }

  /** 10 attempts, 100 ms doubling up to 10 s, 20% jitter. */
  public static RetryPolicy defaults() {
    return exponential(10, Duration.ofMillis(100), Duration.ofSeconds(10));
  }

  /** Exponential backoff doubling from {@code initial} up to {@code max}, with 20% jitter. */
  public static RetryPolicy exponential(int maxAttempts, Duration initial, Duration max) {
    return new RetryPolicy(maxAttempts, initial, max, 2.0, 0.2);
  }

  /** The same delay between all attempts, without jitter. */
  public static RetryPolicy fixed(int maxAttempts, Duration delay) {
    return new RetryPolicy(maxAttempts, delay, delay, 1.0, 0.0);
  }

  /** Whether another attempt follows attempt {@code attempt} (1-based). */
  public boolean allowsAttemptAfter(int attempt) {
    return attempt < maxAttempts;
  }

  /** The delay before the attempt that follows attempt {@code attempt} (1-based). */
  public Duration delayAfter(int attempt) {
    double base = initialBackoff.toNanos() * Math.pow(multiplier, Math.max(0, attempt - 1));
    double capped = Math.min(base, maxBackoff.toNanos());
    double random = jitter == 0 ? 0 : ThreadLocalRandom.current().nextDouble() * jitter;
    return Duration.ofNanos((long) (capped * (1.0 - random)));
  }
}
