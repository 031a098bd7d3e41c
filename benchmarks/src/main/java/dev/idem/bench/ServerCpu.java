package dev.idem.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * CPU time used by the PostgreSQL and Kafka broker processes of this machine (Linux {@code /proc}),
 * so the report shows where the time went besides the consumer. -1 where {@code /proc} is missing.
 *
 * <p>Which processes count is a scope: for the harness's own embedded servers, the postmaster
 * listening on their port with its backends ({@code pg-port=N}) and the broker JVM running from
 * their directory ({@code kafka-dir=D}); without them ({@code any}), every process named {@code
 * postgres} and every Kafka broker JVM of the machine. A JVM never counts because "postgres"
 * appears in its command line: the consumer and the harness carry the driver on their class path,
 * and their CPU is the client's.
 */
final class ServerCpu {
  /** The scope of given endpoints: every PostgreSQL and broker process of the machine. */
  static final String ANY = "any";

  private static final double TICKS_PER_SECOND = 100.0;
  private static final List<String> BROKER_MAINS =
      List.of("dev.idem.testkit.internal.BrokerMain", "kafka.Kafka");

  private final int pgPort;
  private final String kafkaDir;

  private ServerCpu(int pgPort, String kafkaDir) {
    this.pgPort = pgPort;
    this.kafkaDir = kafkaDir;
  }

  /** The processes named by {@code scope}, as {@link #scope(int, String)} wrote it. */
  static ServerCpu of(String scope) {
    int port = 0;
    String dir = null;
    for (String part : scope.split(";")) {
      if (part.startsWith("pg-port=")) {
        port = Integer.parseInt(part.substring("pg-port=".length()));
      } else if (part.startsWith("kafka-dir=")) {
        dir = part.substring("kafka-dir=".length());
      } else if (!part.equals(ANY)) {
        throw new IllegalArgumentException("unknown server scope " + part);
      }
    }
    return new ServerCpu(port, dir);
  }

  /**
   * A scope: the PostgreSQL server on {@code pgPort} (0: any) and the broker running from {@code
   * kafkaDir} (null: any).
   */
  static String scope(int pgPort, String kafkaDir) {
    List<String> parts = new ArrayList<>();
    if (pgPort > 0) {
      parts.add("pg-port=" + pgPort);
    }
    if (kafkaDir != null) {
      parts.add("kafka-dir=" + kafkaDir);
    }
    return parts.isEmpty() ? ANY : String.join(";", parts);
  }

  /** CPU seconds between two readings of {@link #ticks()}, or -1 if either is missing. */
  static double seconds(long fromTicks, long toTicks) {
    return fromTicks < 0 || toTicks < 0 ? -1 : (toTicks - fromTicks) / TICKS_PER_SECOND;
  }

  /** The pids counted right now. */
  Set<Long> pids() {
    Set<Long> pids = new TreeSet<>();
    for (Proc p : servers(processes())) {
      pids.add(p.pid);
    }
    return pids;
  }

  /**
   * Clock ticks the servers used so far (user and system, with those of ended children: the
   * postmaster inherits the time of backends whose connection closed), or -1.
   */
  long ticks() {
    List<Proc> all = processes();
    if (all == null) {
      return -1;
    }
    long total = 0;
    for (Proc p : servers(all)) {
      total += p.ticks;
    }
    return total;
  }

  private List<Proc> servers(List<Proc> all) {
    List<Proc> out = new ArrayList<>();
    if (all == null) {
      return out;
    }
    Set<Long> postmasters = new TreeSet<>();
    for (Proc p : all) {
      if (p.comm.equals("postgres") && pgPort > 0 && p.listensOn(pgPort)) {
        postmasters.add(p.pid);
      }
    }
    for (Proc p : all) {
      boolean postgres =
          p.comm.equals("postgres")
              && (pgPort == 0 || postmasters.contains(p.pid) || postmasters.contains(p.ppid));
      boolean broker =
          p.args.stream().anyMatch(BROKER_MAINS::contains)
              && (kafkaDir == null || p.args.stream().anyMatch(a -> a.startsWith(kafkaDir)));
      if (postgres || broker) {
        out.add(p);
      }
    }
    return out;
  }

  private static List<Proc> processes() {
    Path proc = Path.of("/proc");
    if (!Files.isDirectory(proc)) {
      return null;
    }
    List<Proc> all = new ArrayList<>();
    try (Stream<Path> pids = Files.list(proc)) {
      for (Path p : (Iterable<Path>) pids::iterator) {
        String name = p.getFileName().toString();
        if (!name.chars().allMatch(Character::isDigit)) {
          continue;
        }
        try {
          String stat = Files.readString(p.resolve("stat"));
          String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          String cmdline = Files.readString(p.resolve("cmdline"));
          all.add(
              new Proc(
                  Long.parseLong(name),
                  Long.parseLong(f[1]),
                  comm,
                  Arrays.asList(cmdline.split("\0")),
                  Long.parseLong(f[11])
                      + Long.parseLong(f[12])
                      + Long.parseLong(f[13])
                      + Long.parseLong(f[14])));
        } catch (IOException | RuntimeException e) {
          // The process ended meanwhile.
        }
      }
    } catch (IOException e) {
      return null;
    }
    return all;
  }

  /** One process: pid, parent, name, arguments, and utime + stime + cutime + cstime. */
  private record Proc(long pid, long ppid, String comm, List<String> args, long ticks) {
    /** Whether this postmaster was started with {@code -p port} (as the embedded server is). */
    boolean listensOn(int port) {
      String p = Integer.toString(port);
      for (int i = 0; i < args.size(); i++) {
        String a = args.get(i);
        if ((a.equals("-p") && i + 1 < args.size() && args.get(i + 1).equals(p))
            || a.equals("-p" + p)
            || a.equals("--port=" + p)) {
          return true;
        }
      }
      return false;
    }
  }
}
