package dev.idem.lock;

import java.time.Duration;

/** A blocking lock was not granted within its timeout. */
public class LockTimeoutException extends LockException {
  private static final long serialVersionUID = 1L;

  private final Duration timeout;

  public LockTimeoutException(LockKey key, Duration timeout, Throwable cause) {
    super(key, "lock not granted within " + timeout, cause);
    this.timeout = timeout;
  }

  /** The timeout that expired. */
  public Duration timeout() {
    return timeout;
  }
}
