package dev.idem.consumer.internal.dispatch;

import java.time.Duration;

/**
 * The failure of an attempt the watchdog abandoned: its transaction ran past lock-timeout +
 * handler-timeout + a grace. Its stack trace is where the abandoned thread was at that moment, so
 * the log and the dead letter show where the handler hung.
 */
public final class HungAttemptException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The event id of the record whose transaction hung, or null (a batch, or not known). */
  private final String eventId;

  /** Whether the transaction had committed and its after-commit work hung. */
  private final boolean afterCommit;

  HungAttemptException(
      String what, String eventId, Duration ran, Duration limit, StackTraceElement[] where) {
    super(
        what
            + " ran "
            + ran.toMillis()
            + " ms in its transaction, over consumer.lock-timeout + consumer.handler-timeout + "
            + Watchdog.GRACE.toMillis()
            + " ms = "
            + limit.toMillis()
            + " ms; its worker was abandoned",
        null,
        false,
        true);
    this.eventId = eventId;
    this.afterCommit = false;
    setStackTrace(where);
  }

  /** An attempt whose transaction committed and whose hook's after-commit work then hung. */
  private HungAttemptException(
      String message, String eventId, boolean afterCommit, StackTraceElement[] where) {
    super(message, null, false, true);
    this.eventId = eventId;
    this.afterCommit = afterCommit;
    setStackTrace(where);
  }

  static HungAttemptException afterCompletion(
      String what,
      String eventId,
      boolean committed,
      Duration ran,
      Duration limit,
      StackTraceElement[] where) {
    return new HungAttemptException(
        what
            + (committed ? " committed, then" : " rolled back, then")
            + " the transaction hook's after-completion work ran "
            + ran.toMillis()
            + " ms, over consumer.lock-timeout + consumer.handler-timeout + "
            + Watchdog.GRACE.toMillis()
            + " ms = "
            + limit.toMillis()
            + " ms; its worker was abandoned",
        eventId,
        committed,
        where);
  }

  /**
   * Whether the attempt's transaction had committed and the hook's after-commit work hung: its
   * records are done, only the after-commit effect is at stake.
   */
  public boolean afterCommit() {
    return afterCommit;
  }

  /** The event id of the record whose transaction hung, or null (a batch, or not known). */
  public String eventId() {
    return eventId;
  }
}
