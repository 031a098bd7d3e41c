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
    setStackTrace(where);
  }

  /** The event id of the record whose transaction hung, or null (a batch, or not known). */
  public String eventId() {
    return eventId;
  }
}
