package dev.idem.consumer.internal.dispatch;

import java.time.Duration;

/** What a lane does after running its head record once. */
public record Step(boolean done, Duration retryAfter) {
  /** The record, or the whole group, is done. */
  public static final Step DONE = new Step(true, Duration.ZERO);

  /** What a run returns once it finds it was abandoned: the dispatcher discards it. */
  static final Step DISCARDED = new Step(false, Duration.ZERO);

  /** Not done: run again after {@code delay}. */
  public static Step retryAfter(Duration delay) {
    return new Step(false, delay);
  }
}
