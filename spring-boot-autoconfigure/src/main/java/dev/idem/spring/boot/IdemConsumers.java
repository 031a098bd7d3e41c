package dev.idem.spring.boot;

import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.IdempotentConsumer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.context.SmartLifecycle;

/**
 * The application's idem consumers, started and stopped with the application context: started once
 * every bean exists (after the web server, so its health probes answer while they join their
 * groups), stopped first on shutdown, each draining its in-flight records (up to its {@code
 * drain-timeout}, all at once) within Boot's {@code spring.lifecycle.timeout-per-shutdown-phase}.
 */
public final class IdemConsumers implements SmartLifecycle, DisposableBean {
  /** After the web server starts, before its graceful shutdown. */
  public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 512;

  private static final Logger log = LoggerFactory.getLogger(IdemConsumers.class);

  private final Map<String, IdempotentConsumer<?>> consumers;
  private volatile boolean running;

  IdemConsumers(List<IdempotentConsumer<?>> consumers) {
    Map<String, IdempotentConsumer<?>> byName = new LinkedHashMap<>();
    consumers.forEach(c -> byName.put(c.name(), c));
    this.consumers = Map.copyOf(byName);
  }

  /** The consumer named {@code name}, if it is configured and enabled. */
  public Optional<IdempotentConsumer<?>> consumer(String name) {
    return Optional.ofNullable(consumers.get(name));
  }

  /** Every consumer, by name. */
  public Map<String, IdempotentConsumer<?>> all() {
    return consumers;
  }

  /** Each consumer's health, by name. */
  public Map<String, ConsumerHealth> health() {
    Map<String, ConsumerHealth> health = new LinkedHashMap<>();
    consumers.forEach((name, c) -> health.put(name, c.health()));
    return health;
  }

  @Override
  public void start() {
    List<IdempotentConsumer<?>> started = new ArrayList<>();
    try {
      for (IdempotentConsumer<?> c : consumers.values()) {
        c.start();
        started.add(c);
      }
    } catch (RuntimeException e) {
      started.forEach(IdempotentConsumer::close);
      throw e;
    }
    running = true;
  }

  @Override
  public void stop() {
    closeAll();
  }

  @Override
  public void stop(Runnable callback) {
    // Off the caller's thread, so that Boot can bound the wait by its shutdown-phase timeout.
    Thread stopper =
        new Thread(
            () -> {
              try {
                closeAll();
              } finally {
                callback.run();
              }
            },
            "idem-shutdown");
    stopper.setDaemon(true);
    stopper.start();
  }

  /** Closes every consumer at once: their drains overlap, the slowest bounds the whole. */
  private void closeAll() {
    List<Thread> closing = new ArrayList<>();
    for (IdempotentConsumer<?> c : consumers.values()) {
      Thread t = new Thread(c::close, "idem-close-" + c.name());
      t.start();
      closing.add(t);
    }
    for (Thread t : closing) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        log.warn("interrupted while idem's consumers drain; they go on closing in the background");
        break;
      }
    }
    running = false;
  }

  @Override
  public boolean isRunning() {
    return running;
  }

  @Override
  public int getPhase() {
    return PHASE;
  }

  @Override
  public void destroy() {
    consumers.values().forEach(IdempotentConsumer::close);
  }
}
