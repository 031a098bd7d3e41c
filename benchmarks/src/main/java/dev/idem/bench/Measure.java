package dev.idem.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/**
 * The measured window of a scenario, from its first record to its end: wall time, CPU time of this
 * JVM, CPU time of the servers (read here, at the same two instants, so that both CPU figures cover
 * the same window) and peak heap (sampled every 10 ms over the whole run).
 */
final class Measure implements AutoCloseable {
  private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
  private final com.sun.management.OperatingSystemMXBean os =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  private final ServerCpu servers;
  private final Runnable atFirst;
  private final Thread sampler;
  private volatile boolean running = true;
  private volatile long peakHeap;
  private volatile long firstNanos;
  private long firstCpu;
  private long firstServerTicks;
  private long firstEpochMillis;
  private volatile long halfNanos;
  private long halfCpu;
  private long endNanos;
  private long endCpu;
  private long endServerTicks;
  private long endEpochMillis;

  /** A measure of {@code servers}' CPU too; {@code atFirst} runs at the first record. */
  Measure(ServerCpu servers, Runnable atFirst) {
    this.servers = servers;
    this.atFirst = atFirst;
    sampler =
        new Thread(
            () -> {
              while (running) {
                peakHeap = Math.max(peakHeap, memory.getHeapMemoryUsage().getUsed());
                try {
                  Thread.sleep(10);
                } catch (InterruptedException e) {
                  return;
                }
              }
            },
            "heap-sampler");
    sampler.setDaemon(true);
    sampler.start();
  }

  /** Marks the first record (idempotent; thread-safe). */
  void first() {
    if (firstNanos == 0) {
      synchronized (this) {
        if (firstNanos == 0) {
          atFirst.run();
          firstServerTicks = servers.ticks();
          firstCpu = os.getProcessCpuTime();
          firstEpochMillis = System.currentTimeMillis();
          firstNanos = System.nanoTime();
        }
      }
    }
  }

  /**
   * Marks the moment half of the records are done (idempotent; thread-safe): the CPU from here to
   * the end is the consumer's once warmed up, without most of the JIT compiler's work of the first
   * seconds, which a short run would otherwise charge to every record.
   */
  void half() {
    if (halfNanos == 0) {
      synchronized (this) {
        if (halfNanos == 0) {
          halfCpu = os.getProcessCpuTime();
          halfNanos = System.nanoTime();
        }
      }
    }
  }

  /** CPU seconds of this JVM over the second half of the run, or -1 where it was not marked. */
  double secondHalfCpuSeconds() {
    return halfNanos == 0 ? -1 : (endCpu - halfCpu) / 1e9;
  }

  /** Marks the end of the measured run. */
  void end() {
    endNanos = System.nanoTime();
    endEpochMillis = System.currentTimeMillis();
    endCpu = os.getProcessCpuTime();
    endServerTicks = servers.ticks();
  }

  double seconds() {
    return (endNanos - firstNanos) / 1e9;
  }

  /** Cores used on average over the run. */
  double cpu() {
    return (endCpu - firstCpu) / (double) (endNanos - firstNanos);
  }

  /** CPU seconds of this JVM over the run. */
  double cpuSeconds() {
    return (endCpu - firstCpu) / 1e9;
  }

  /** CPU seconds of the broker and the database over the run, or -1 where unknown. */
  double serverCpuSeconds() {
    return ServerCpu.seconds(firstServerTicks, endServerTicks);
  }

  /** The run's start, epoch milliseconds (for a profile of this window only). */
  long firstEpochMillis() {
    return firstEpochMillis;
  }

  /** The run's end, epoch milliseconds. */
  long endEpochMillis() {
    return endEpochMillis;
  }

  long peakHeapBytes() {
    return peakHeap;
  }

  @Override
  public void close() {
    running = false;
  }
}
