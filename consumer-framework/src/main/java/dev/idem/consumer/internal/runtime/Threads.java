package dev.idem.consumer.internal.runtime;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/** Names a consumer's threads {@code idem-<consumer>-<role>-<n>}, so a thread dump shows whose. */
public final class Threads {
  private Threads() {}

  /** Daemon threads for {@code role}: a consumer left open must not keep the JVM alive. */
  public static ThreadFactory of(String consumerName, String role) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "idem-" + consumerName + "-" + role + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
