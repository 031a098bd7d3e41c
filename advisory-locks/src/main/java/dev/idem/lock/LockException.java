package dev.idem.lock;

import dev.idem.IdemException;

/** A lock could not be taken, kept or used. Names the key when there is one. */
public class LockException extends IdemException {
  private static final long serialVersionUID = 1L;

  private final transient LockKey key;

  public LockException(LockKey key, String message, Throwable cause) {
    super(key == null ? message : message + " [" + key + "]", cause);
    this.key = key;
  }

  /** The key concerned, or null. */
  public LockKey key() {
    return key;
  }
}
