package dev.idem.chaos;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The events of one run, in production order, as a stream that depends on the seed alone: event
 * {@code i} is the same in every run with the same seed, however many events a run produces.
 *
 * <p>Each unique event belongs to an ordering key and has the next sequence number of that key. Its
 * original record goes to the first topic, at the partition of its key, so a key's originals share
 * one partition in sequence order. A fraction of the events get extra copies on random partitions
 * of both topics; the copies are produced right after their original, so in every partition a key's
 * records still come in non-decreasing sequence order. One event in every block of {@code 1 /
 * poisonRate} events, at a random place (in the first half of the first block, so that every run of
 * some length has one), is poison: the handler fails on it every time. A share of the other events
 * ({@link ChaosOptions#swallowRate()}) make the handler swallow an SQL error on its first attempt:
 * it does its writes, runs a statement that fails, catches the exception and returns normally, as a
 * careless handler does. That share is drawn from a random stream of its own, so the trait leaves
 * every other property of a seed's events as it was.
 *
 * <p>Not thread-safe: one producer thread draws the events; read the drawn ones after it stopped.
 */
public final class Workload {
  private final ChaosOptions options;
  private final String idPrefix;
  private final String original;
  private final String other;
  private final int poisonBlock;
  private final int[] nextSeq;
  private final List<Planned> drawn = new ArrayList<>();
  private final Set<String> poisonIds = new LinkedHashSet<>();
  private final Set<String> swallowIds = new LinkedHashSet<>();
  private int copies;
  private int poisonAt = -1;

  /** Where one record goes. */
  public record Target(String topic, int partition) {}

  /**
   * One unique event and where its records go, the original first.
   *
   * @param event the payload
   * @param targets the original's target, then one per extra copy
   */
  public record Planned(ChaosEvent event, List<Target> targets) {}

  /**
   * The workload of {@code options} for the run whose event ids start with {@code idPrefix}, on
   * topics {@code original} (originals and copies) and {@code other} (copies only).
   */
  public Workload(ChaosOptions options, String idPrefix, String original, String other) {
    this.options = options;
    this.idPrefix = idPrefix;
    this.original = original;
    this.other = other;
    this.poisonBlock =
        options.poisonRate() <= 0 ? 0 : (int) Math.max(2, Math.round(1 / options.poisonRate()));
    this.nextSeq = new int[options.keys()];
  }

  /** Draws the next event. */
  public Planned next() {
    int i = drawn.size();
    Random random = new Random(mix(options.seed(), i));
    int k = random.nextInt(options.keys());
    String key = "k" + k;
    boolean poison = isPoison(i);
    ChaosEvent event =
        new ChaosEvent(idPrefix + "-" + i, key, ++nextSeq[k], poison, !poison && swallows(i));
    List<Target> targets = new ArrayList<>();
    targets.add(new Target(original, partitionOf(key, options.partitions())));
    if (random.nextDouble() < options.duplicateFraction()) {
      int extra =
          options.minCopies() + random.nextInt(options.maxCopies() - options.minCopies() + 1);
      for (int c = 0; c < extra; c++) {
        String topic = random.nextBoolean() ? original : other;
        targets.add(new Target(topic, random.nextInt(options.partitions())));
      }
      copies += extra;
    }
    if (event.poison()) {
      poisonIds.add(event.id());
    }
    if (event.swallow()) {
      swallowIds.add(event.id());
    }
    Planned planned = new Planned(event, List.copyOf(targets));
    drawn.add(planned);
    return planned;
  }

  /** Draws {@code n} events (for tests and fixed-size runs). */
  public Workload draw(int n) {
    for (int i = 0; i < n; i++) {
      next();
    }
    return this;
  }

  private boolean isPoison(int i) {
    if (poisonBlock == 0) {
      return false;
    }
    int block = i / poisonBlock;
    if (i % poisonBlock == 0) {
      int bound = block == 0 ? Math.max(1, poisonBlock / 2) : poisonBlock;
      poisonAt = block * poisonBlock + new Random(mix(~options.seed(), block)).nextInt(bound);
    }
    return i == poisonAt;
  }

  private boolean swallows(int i) {
    // A constant apart from the poison stream's (~seed), so the two draws are unrelated.
    return options.swallowRate() > 0
        && new Random(mix(options.seed() ^ 0x5A11_0E5L, i)).nextDouble() < options.swallowRate();
  }

  private static long mix(long seed, long index) {
    long z = seed + 0x9E3779B97F4A7C15L * (index + 1);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** The partition of a key's original records. */
  public static int partitionOf(String key, int partitions) {
    return Math.floorMod(key.hashCode(), partitions);
  }

  /** The events drawn so far, in production order. */
  public List<Planned> events() {
    return List.copyOf(drawn);
  }

  /** The ids of the poison events drawn so far. */
  public Set<String> poisonIds() {
    return Set.copyOf(poisonIds);
  }

  /** The ids of the drawn events whose handler swallows an SQL error on its first attempt. */
  public Set<String> swallowIds() {
    return Set.copyOf(swallowIds);
  }

  /** How many extra copies the drawn events have. */
  public int copies() {
    return copies;
  }

  /** How many records the drawn events make: originals plus copies. */
  public int records() {
    return drawn.size() + copies;
  }
}
