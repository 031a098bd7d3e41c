package dev.idem.consumer;

import dev.idem.IdemException;

/**
 * A record has no usable event id: missing, blank, longer than {@value EventIds#MAX_BYTES} bytes of
 * UTF-8, or containing NUL. Such a record is never processed; it is rejected with this reason.
 */
public class InvalidEventIdException extends IdemException {
  private static final long serialVersionUID = 1L;

  private final String reason;

  /** A record whose event id was refused for {@code reason}. */
  public InvalidEventIdException(String reason, String topic, int partition, long offset) {
    super("invalid event id: " + reason, topic, partition, offset, null, null);
    this.reason = reason;
  }

  /** Why the event id was refused. */
  public String reason() {
    return reason;
  }
}
