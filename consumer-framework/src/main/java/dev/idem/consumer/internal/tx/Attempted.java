package dev.idem.consumer.internal.tx;

/**
 * How one transaction of an attempt ended: committed with its steps' value, or failed (rolled back)
 * with the failure, already counted.
 *
 * @param value what the steps returned, when committed
 * @param failure why it rolled back, or null when it committed
 * @param <R> the steps' value
 */
public record Attempted<R>(R value, Throwable failure) {

  static <R> Attempted<R> committed(R value) {
    return new Attempted<>(value, null);
  }

  static <R> Attempted<R> failed(Throwable failure) {
    return new Attempted<>(null, failure);
  }

  /** Whether the transaction committed. */
  public boolean ok() {
    return failure == null;
  }
}
