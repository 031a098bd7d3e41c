package dev.idem.lock;

import java.util.NoSuchElementException;

/**
 * The outcome of an exclusive run: it ran (with the work's value) or it was skipped, and why.
 *
 * @param <T> the work's value type
 */
public final class RunResult<T> {
  private final boolean ran;
  private final T value;
  private final String skipReason;

  private RunResult(boolean ran, T value, String skipReason) {
    this.ran = ran;
    this.value = value;
    this.skipReason = skipReason;
  }

  /** The work ran and returned {@code value}. */
  public static <T> RunResult<T> ran(T value) {
    return new RunResult<>(true, value, null);
  }

  /** The work did not run. */
  public static <T> RunResult<T> skipped(String reason) {
    return new RunResult<>(false, null, reason);
  }

  /** Whether the work ran here. */
  public boolean ran() {
    return ran;
  }

  /** Whether the work was skipped. */
  public boolean skipped() {
    return !ran;
  }

  /**
   * The work's value.
   *
   * @throws NoSuchElementException when the work was skipped
   */
  public T value() {
    if (!ran) {
      throw new NoSuchElementException("skipped: " + skipReason);
    }
    return value;
  }

  /** Why the work was skipped, or null when it ran. */
  public String skipReason() {
    return skipReason;
  }

  @Override
  public String toString() {
    return ran ? "ran(" + value + ")" : "skipped(" + skipReason + ")";
  }
}
