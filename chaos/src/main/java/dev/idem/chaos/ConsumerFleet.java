package dev.idem.chaos;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The consumer processes of a run, in numbered slots. A slot holds at most one process at a time;
 * every start of a slot is a new incarnation ({@code c2.3}: slot 2, third start). The fleet counts
 * what happened to its processes, and notices processes that exited without being asked to.
 */
final class ConsumerFleet implements AutoCloseable {
  static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
  private static final Duration RELAY_HALT_ATTEMPT = Duration.ofSeconds(3);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(60);

  private final IntFunction<List<String>> args;
  private final Path logDirectory;
  private final FaultLog log;
  private final ConsumerProcess[] slots;
  private final int[] incarnations;
  private final List<ConsumerProcess> all = new ArrayList<>();
  private int kills;
  private int halts;
  private int relayHalts;
  private int gracefulStops;
  private int restarts;
  private final List<String> unexpectedExits = new ArrayList<>();

  /**
   * @param size the number of slots
   * @param args the process arguments of a slot
   * @param logDirectory where the processes' logs go, one file per slot
   */
  ConsumerFleet(int size, IntFunction<List<String>> args, Path logDirectory, FaultLog log) {
    this.args = args;
    this.logDirectory = logDirectory;
    this.log = log;
    this.slots = new ConsumerProcess[size];
    this.incarnations = new int[size];
  }

  int size() {
    return slots.length;
  }

  /** Starts a process in an empty slot and waits until it is ready. */
  ConsumerProcess start(int slot) {
    ConsumerProcess p;
    synchronized (this) {
      if (slots[slot] != null && slots[slot].alive()) {
        throw new ChaosException("slot " + slot + " already runs " + slots[slot]);
      }
      if (incarnations[slot] > 0) {
        restarts++;
      }
      incarnations[slot]++;
      String name = "c" + (slot + 1) + "." + incarnations[slot];
      p =
          ConsumerProcess.launch(
              name, args.apply(slot), logDirectory.resolve("c" + (slot + 1) + ".log"));
      slots[slot] = p;
      all.add(p);
    }
    p.awaitReady(READY_TIMEOUT);
    return p;
  }

  /** Starts every empty slot (in parallel) and waits until all are ready. */
  void startAll() {
    List<Thread> starters = new ArrayList<>();
    List<RuntimeException> failures = new ArrayList<>();
    for (int i = 0; i < slots.length; i++) {
      if (running(i) != null) {
        continue;
      }
      int slot = i;
      Thread t =
          new Thread(
              () -> {
                try {
                  start(slot);
                } catch (RuntimeException e) {
                  synchronized (failures) {
                    failures.add(e);
                  }
                }
              },
              "chaos-start-" + slot);
      t.start();
      starters.add(t);
    }
    join(starters);
    if (!failures.isEmpty()) {
      throw failures.get(0);
    }
  }

  /** The process running in {@code slot}, or null. */
  synchronized ConsumerProcess running(int slot) {
    ConsumerProcess p = slots[slot];
    return p != null && p.alive() ? p : null;
  }

  /** Kills the process of {@code slot} with SIGKILL. */
  void kill(int slot) {
    ConsumerProcess p = take(slot);
    p.kill();
    synchronized (this) {
      kills++;
    }
  }

  /** Stops the process of {@code slot} gracefully; returns false when it had to be killed. */
  boolean stop(int slot) {
    ConsumerProcess p = take(slot);
    p.send(ChaosProtocol.CMD_STOP);
    Integer code = p.awaitExit(STOP_TIMEOUT);
    if (code == null || code != 0) {
      log.note(p + " did not stop gracefully (exit " + code + "); killing it");
      p.kill();
      synchronized (this) {
        unexpectedExits.add(p.name() + ": graceful stop ended with " + code);
      }
      return false;
    }
    synchronized (this) {
      gracefulStops++;
    }
    return true;
  }

  /** Stops the given slots at the same time. */
  void stopAll(List<Integer> which) {
    List<Thread> stoppers = new ArrayList<>();
    for (int slot : which) {
      Thread t = new Thread(() -> stop(slot), "chaos-stop-" + slot);
      t.start();
      stoppers.add(t);
    }
    join(stoppers);
  }

  /**
   * Arms the halt after the next database commit in {@code slot} and waits for the halt.
   *
   * @return where it halted, or null when no commit came within {@code timeout} (the process is
   *     then killed instead)
   */
  String haltAfterCommit(int slot, Duration timeout) {
    ConsumerProcess p = take(slot);
    p.send(ChaosProtocol.CMD_HALT_AFTER_COMMIT);
    Integer code = p.awaitExit(timeout);
    if (code != null && code == ChaosProtocol.HALT_EXIT_CODE) {
      synchronized (this) {
        halts++;
      }
      return p.halt();
    }
    killArmed(p, code);
    return null;
  }

  /**
   * Outbox runs: arms the halt after the next Kafka commit of the relay that leads, as its process
   * reports, and waits for the halt. Leadership can move meanwhile (a new leader is elected a
   * second after a fault): a process that has not halted within a few seconds is disarmed and the
   * leader asked again.
   *
   * @return the process that halted, or null when none halted within {@code timeout}
   */
  RelayHalt haltRelayAfterSend(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      Integer slot = relayLeaderSlot();
      if (slot == null) {
        Sleep.millis(100);
        continue;
      }
      ConsumerProcess p = running(slot);
      if (p == null) {
        continue;
      }
      p.send(ChaosProtocol.CMD_HALT_RELAY_AFTER_SEND);
      Integer code = p.awaitExit(RELAY_HALT_ATTEMPT);
      if (code == null) {
        p.send(ChaosProtocol.CMD_DISARM_RELAY_HALT);
        // A halt already under way when the disarm arrived still counts.
        code = p.awaitExit(Duration.ofMillis(300));
      }
      if (code != null && code == ChaosProtocol.HALT_EXIT_CODE) {
        synchronized (this) {
          if (slots[slot] == p) {
            slots[slot] = null;
          }
          relayHalts++;
        }
        return new RelayHalt(slot, p.toString(), p.halt());
      }
      if (code != null) {
        // Exited otherwise: left in its slot, where reviveCrashed records and restarts it.
        return null;
      }
    }
    return null;
  }

  /** A process halted between its relay's Kafka commit and its mark: its slot and what it said. */
  record RelayHalt(int slot, String process, String at) {}

  /** The slot whose running process last reported that its relay leads, or null. */
  private synchronized Integer relayLeaderSlot() {
    for (int i = 0; i < slots.length; i++) {
      if (slots[i] != null && slots[i].alive() && slots[i].stat("relay-leader") == 1) {
        return i;
      }
    }
    return null;
  }

  private void killArmed(ConsumerProcess p, Integer code) {
    p.kill();
    synchronized (this) {
      if (code == null) {
        kills++;
      } else {
        unexpectedExits.add(p.name() + ": exited with " + code + " while armed");
      }
    }
  }

  /**
   * Restarts processes that exited without being asked to, recording each as an unexpected exit.
   */
  void reviveCrashed() {
    for (int i = 0; i < slots.length; i++) {
      ConsumerProcess p;
      synchronized (this) {
        p = slots[i];
        if (p == null || p.alive()) {
          continue;
        }
        slots[i] = null;
        String why = p.failure() == null ? "" : " (" + p.failure() + ")";
        unexpectedExits.add(p.name() + ": exited with " + p.exitCode() + why);
        log.note("consumer " + p + " exited on its own with " + p.exitCode() + why);
      }
      start(i);
    }
  }

  /** Detaches the running process of a slot, so that its exit is not taken as unexpected. */
  private synchronized ConsumerProcess take(int slot) {
    ConsumerProcess p = slots[slot];
    if (p == null) {
      throw new ChaosException("slot " + slot + " runs nothing");
    }
    slots[slot] = null;
    return p;
  }

  /** The slots that run a process. */
  synchronized List<Integer> runningSlots() {
    List<Integer> result = new ArrayList<>();
    for (int i = 0; i < slots.length; i++) {
      if (slots[i] != null && slots[i].alive()) {
        result.add(i);
      }
    }
    return result;
  }

  synchronized int kills() {
    return kills;
  }

  synchronized int halts() {
    return halts;
  }

  /** Outbox runs: processes halted between their relay's Kafka commit and its mark. */
  synchronized int relayHalts() {
    return relayHalts;
  }

  synchronized int gracefulStops() {
    return gracefulStops;
  }

  synchronized int restarts() {
    return restarts;
  }

  synchronized List<String> unexpectedExits() {
    return List.copyOf(unexpectedExits);
  }

  /** The sum of a counter's last reported value over every process of the run. */
  synchronized long total(String stat) {
    return all.stream().mapToLong(p -> p.stat(stat)).sum();
  }

  /** Stops every running process gracefully (all at once). */
  void stopEverything() {
    stopAll(runningSlots());
  }

  /** Kills whatever still runs. */
  @Override
  public synchronized void close() {
    for (ConsumerProcess p : all) {
      if (p.alive()) {
        p.kill();
      }
    }
  }

  private static void join(List<Thread> threads) {
    for (Thread t : threads) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ChaosException("interrupted", e);
      }
    }
  }
}
