package dev.idem.consumer.internal.tx;

import dev.idem.lock.LockKey;

/** Maps (namespace, event id) to the 64-bit advisory-lock key; tests inject collisions. */
@FunctionalInterface
public interface LockKeyFunction {

  /** The frozen version-1 function of {@link LockKey}. */
  LockKeyFunction V1 = LockKey::hash;

  long key(String namespace, String eventId);
}
