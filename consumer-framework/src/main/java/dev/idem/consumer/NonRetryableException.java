package dev.idem.consumer;

import dev.idem.IdemException;

/**
 * Thrown by a handler for an event that can never succeed (an unknown event type, a payload that
 * breaks a business rule). The record is dead-lettered at once, without further attempts.
 */
public class NonRetryableException extends IdemException {
  private static final long serialVersionUID = 1L;

  public NonRetryableException(String message) {
    super(message);
  }

  public NonRetryableException(String message, Throwable cause) {
    super(message, cause);
  }
}
