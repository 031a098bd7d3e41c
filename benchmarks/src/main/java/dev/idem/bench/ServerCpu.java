package dev.idem.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * CPU time used by the PostgreSQL and Kafka broker processes of this machine (Linux {@code /proc}),
 * so the report shows where the time went besides the consumer. -1 where {@code /proc} is missing.
 */
final class ServerCpu {
  private static final double TICKS_PER_SECOND = 100.0;

  private final long startTicks;
  private final long startNanos;

  private ServerCpu(long startTicks, long startNanos) {
    this.startTicks = startTicks;
    this.startNanos = startNanos;
  }

  static ServerCpu start() {
    return new ServerCpu(ticks(), System.nanoTime());
  }

  /** Average cores the servers used since {@link #start()}. */
  double coresSince() {
    long now = ticks();
    if (now < 0 || startTicks < 0) {
      return -1;
    }
    double seconds = (System.nanoTime() - startNanos) / 1e9;
    return (now - startTicks) / TICKS_PER_SECOND / seconds;
  }

  private static long ticks() {
    Path proc = Path.of("/proc");
    if (!Files.isDirectory(proc)) {
      return -1;
    }
    long total = 0;
    try (Stream<Path> pids = Files.list(proc)) {
      for (Path p : (Iterable<Path>) pids::iterator) {
        String name = p.getFileName().toString();
        if (!name.chars().allMatch(Character::isDigit)) {
          continue;
        }
        try {
          String cmdline = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
          if (!cmdline.contains("postgres") && !cmdline.contains("BrokerMain")) {
            continue;
          }
          String stat = Files.readString(p.resolve("stat"));
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          // utime, stime, and cutime, cstime: the postmaster inherits the time of backends that
          // ended (closed connections), which would otherwise vanish from the sum.
          total +=
              Long.parseLong(f[11])
                  + Long.parseLong(f[12])
                  + Long.parseLong(f[13])
                  + Long.parseLong(f[14]);
        } catch (IOException | RuntimeException e) {
          // The process ended meanwhile.
        }
      }
    } catch (IOException e) {
      return -1;
    }
    return total;
  }
}
