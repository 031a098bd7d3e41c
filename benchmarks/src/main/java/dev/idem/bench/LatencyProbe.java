package dev.idem.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.sql.DataSource;
import org.apache.kafka.common.header.Headers;

/**
 * Records, per new event, the time from its "sent-at" header (the load generator's clock when it
 * called {@code send}) to the commit of the transaction that applied it: the handler notes the
 * stamps of the events it applied, the wrapped connection reads the clock right after {@code
 * commit()} returns on the same thread. Both JVMs run on one machine, so they read one clock.
 */
final class LatencyProbe {
  private final ThreadLocal<List<Long>> pending = ThreadLocal.withInitial(ArrayList::new);

  /** Pairs of (sent-at, latency), milliseconds. */
  private final ConcurrentLinkedQueue<long[]> samples = new ConcurrentLinkedQueue<>();

  /** Notes an event applied in the current thread's transaction. */
  void pending(Headers headers) {
    var h = headers.lastHeader("sent-at");
    if (h != null) {
      pending.get().add(Long.parseLong(new String(h.value(), StandardCharsets.UTF_8)));
    }
  }

  /** The pool, with connections that take a sample per noted event when they commit. */
  DataSource wrap(DataSource pool) {
    return (DataSource)
        Proxy.newProxyInstance(
            LatencyProbe.class.getClassLoader(),
            new Class<?>[] {DataSource.class},
            (proxy, method, args) -> {
              Object out = invoke(pool, method, args);
              if (out instanceof Connection c) {
                return connection(c);
              }
              return out;
            });
  }

  private Connection connection(Connection c) {
    return (Connection)
        Proxy.newProxyInstance(
            LatencyProbe.class.getClassLoader(),
            new Class<?>[] {Connection.class},
            (proxy, method, args) -> {
              Object out = invoke(c, method, args);
              if (method.getName().equals("commit")) {
                long now = System.currentTimeMillis();
                for (long sent : pending.get()) {
                  samples.add(new long[] {sent, now - sent});
                }
                pending.get().clear();
              } else if (method.getName().equals("rollback") && args == null) {
                pending.get().clear();
              }
              return out;
            });
  }

  private static Object invoke(Object target, java.lang.reflect.Method method, Object[] args)
      throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  /**
   * Writes samples, p50, p99, p99.9 and max (milliseconds) into {@code result}, and the p99 of the
   * events sent in the first and in the second half of the run: a start-up transient (a cold JVM, a
   * first rebalance) shows as a first half far above the second.
   */
  void report(ObjectNode result) {
    long[][] all = samples.toArray(new long[0][]);
    long[] sorted = Arrays.stream(all).mapToLong(p -> p[1]).sorted().toArray();
    result.put("samples", sorted.length);
    result.put("p50Ms", percentile(sorted, 0.50));
    result.put("p99Ms", percentile(sorted, 0.99));
    result.put("p999Ms", percentile(sorted, 0.999));
    result.put("maxMs", sorted.length == 0 ? -1 : sorted[sorted.length - 1]);
    long first = Arrays.stream(all).mapToLong(p -> p[0]).min().orElse(0);
    long last = Arrays.stream(all).mapToLong(p -> p[0]).max().orElse(0);
    long mid = first + (last - first) / 2;
    result.put(
        "p99FirstHalfMs",
        percentile(
            Arrays.stream(all).filter(p -> p[0] <= mid).mapToLong(p -> p[1]).sorted().toArray(),
            0.99));
    result.put(
        "p99SecondHalfMs",
        percentile(
            Arrays.stream(all).filter(p -> p[0] > mid).mapToLong(p -> p[1]).sorted().toArray(),
            0.99));
  }

  /**
   * The nearest-rank percentile: the smallest sample with at least {@code p} of them at or below.
   */
  static long percentile(long[] sorted, double p) {
    if (sorted.length == 0) {
      return -1;
    }
    return sorted[Math.max(0, Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1))];
  }
}
