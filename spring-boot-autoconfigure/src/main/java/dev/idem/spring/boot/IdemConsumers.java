package dev.idem.spring.boot;

import dev.idem.consumer.ConsumerHealth;
import dev.idem.consumer.IdemConsumer;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.IdempotentShareConsumer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
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

  private final Map<String, IdemConsumer> consumers;
  private volatile boolean running;

  IdemConsumers(List<IdemConsumer> consumers) {
    Map<String, IdemConsumer> byName = new LinkedHashMap<>();
    consumers.forEach(c -> byName.put(c.name(), c));
    this.consumers = Map.copyOf(byName);
  }

  /** The consumer-group consumer named {@code name}, if it is configured and enabled. */
  public Optional<IdempotentConsumer<?>> consumer(String name) {
    return consumers.get(name) instanceof IdempotentConsumer<?> c
        ? Optional.of(c)
        : Optional.empty();
  }

  /** The share-group consumer named {@code name}, if it is configured and enabled. */
  public Optional<IdempotentShareConsumer<?>> shareConsumer(String name) {
    return consumers.get(name) instanceof IdempotentShareConsumer<?> c
        ? Optional.of(c)
        : Optional.empty();
  }

  /** The names of every consumer. */
  public Set<String> names() {
    return consumers.keySet();
  }

  /** Each consumer's health, by name. */
  public Map<String, ConsumerHealth> health() {
    Map<String, ConsumerHealth> health = new LinkedHashMap<>();
    consumers.forEach((name, c) -> health.put(name, c.health()));
    return health;
  }

  /** The health of the consumer named {@code name} (one of {@link #names()}). */
  ConsumerHealth health(String name) {
    return consumers.get(name).health();
  }

  @Override
  public void start() {
    List<IdemConsumer> started = new ArrayList<>();
    try {
      for (IdemConsumer c : consumers.values()) {
        c.start();
        started.add(c);
      }
    } catch (RuntimeException e) {
      started.forEach(IdemConsumers::close);
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
    for (IdemConsumer c : consumers.values()) {
      Thread t = new Thread(() -> close(c), "idem-close-" + c.name());
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
    consumers.values().forEach(IdemConsumers::close);
  }

  private static void close(IdemConsumer consumer) {
    try {
      consumer.close();
    } catch (RuntimeException e) {
      log.warn("closing idem consumer {} failed", consumer.name(), e);
    }
  }
}
