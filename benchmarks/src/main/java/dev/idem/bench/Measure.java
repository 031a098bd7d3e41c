package dev.idem.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/** Wall time from the first record, CPU time of this JVM, and peak heap (sampled every 10 ms). */
final class Measure implements AutoCloseable {
  private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
  private final com.sun.management.OperatingSystemMXBean os =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  private final Thread sampler;
  private volatile boolean running = true;
  private volatile long peakHeap;
  private volatile long firstNanos;
  private long firstCpu;
  private long endNanos;
  private long endCpu;

  Measure() {
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
          firstCpu = os.getProcessCpuTime();
          firstNanos = System.nanoTime();
        }
      }
    }
  }

  /** Marks the end of the measured run. */
  void end() {
    endNanos = System.nanoTime();
    endCpu = os.getProcessCpuTime();
  }

  double seconds() {
    return (endNanos - firstNanos) / 1e9;
  }

  /** Cores used on average over the run. */
  double cpu() {
    return (endCpu - firstCpu) / (double) (endNanos - firstNanos);
  }

  long peakHeapBytes() {
    return peakHeap;
  }

  @Override
  public void close() {
    running = false;
  }
}
