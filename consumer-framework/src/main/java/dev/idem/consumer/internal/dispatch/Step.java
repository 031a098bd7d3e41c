package dev.idem.consumer.internal.dispatch;

import java.time.Duration;

/** What a lane does after running its head record once. */
public record Step(boolean done, Duration retryAfter) {
  static final Step DONE = new Step(true, Duration.ZERO);

  static Step retryAfter(Duration delay) {
    return new Step(false, delay);
  }
}
