package dev.idem.lock.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.function.Supplier;

/** The toolkit's meters. Names differ from the consumer's so both fit one Prometheus registry. */
public final class LockMetrics {
  private final MeterRegistry registry;

  public LockMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  public void waited(String namespace, String scope, long nanos) {
    Timer.builder("idem.advisory.lock.wait")
        .description("Time spent waiting for an advisory lock")
        .tags("namespace", namespace, "scope", scope)
        .register(registry)
        .record(Duration.ofNanos(nanos));
  }

  public void acquired(String namespace, String scope) {
    Counter.builder("idem.advisory.lock.acquisitions")
        .description("Advisory locks granted")
        .tags("namespace", namespace, "scope", scope)
        .register(registry)
        .increment();
  }

  public void missed(String namespace, String scope) {
    Counter.builder("idem.advisory.lock.try.misses")
        .description("Try-locks that found the lock taken")
        .tags("namespace", namespace, "scope", scope)
        .register(registry)
        .increment();
  }

  public void leaderChanged(String namespace, String name) {
    Counter.builder("idem.leader.changes")
        .description("Times this elector became or stopped being leader")
        .tags("namespace", namespace, "name", name)
        .register(registry)
        .increment();
  }

  public void leaderGauge(String namespace, String name, Supplier<Number> isLeader) {
    Gauge.builder("idem.leader.active", isLeader)
        .description("1 while this elector is leader, else 0")
        .tags("namespace", namespace, "name", name)
        .register(registry);
  }
}
