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
 * <p>Share-group runs also have <em>hung</em> and <em>slow-failing</em> events ({@link
 * ChaosOptions#hangRate()}, {@link ChaosOptions#slowFailRate()}), each placed like the poison
 * events, one in a block of events, from a random stream of its own, the first of each among the
 * first {@value #FIRST_WITHIN} events so that even a short run sees it through all its deliveries.
 * A place that falls on a poison (or, for a slow-failing one, a hung) event moves to the next
 * event. A hung event has no extra copies: each copy would hang through deliveries of its own,
 * keeping consumers from acquiring for longer, and would mostly wait for the event's lock behind
 * the other's hung attempt, so that the event would mostly be dead-lettered for that wait rather
 * than as a hang (see {@link #isExpectedDeadLetter}). Neither kind swallows an error.
 *
 * <p>Not thread-safe: one producer thread draws the events; read the drawn ones after it stopped.
 */
public final class Workload {
  /** The dead-letter reason of a record whose handler failed: poison and slow-failing events. */
  public static final String HANDLER_FAILED = "handler-failed";

  /** The dead-letter reason of a record whose attempt the watchdog gave up: hung events. */
  public static final String HANDLER_TIMEOUT = "handler-timeout";

  /** The exception of an attempt whose wait for the event's lock timed out. */
  static final String LOCK_WAIT_FAILURE = "org.postgresql.util.PSQLException";

  /** The first hung and the first slow-failing event come among this many events. */
  static final int FIRST_WITHIN = 100;

  private final ChaosOptions options;
  private final String idPrefix;
  private final String original;
  private final String other;
  private final OnePerBlock poison;
  private final OnePerBlock hang;
  private final OnePerBlock slowFail;
  private final int[] nextSeq;
  private final List<Planned> drawn = new ArrayList<>();
  private final Set<String> poisonIds = new LinkedHashSet<>();
  private final Set<String> swallowIds = new LinkedHashSet<>();
  private final Set<String> hangIds = new LinkedHashSet<>();
  private final Set<String> slowFailIds = new LinkedHashSet<>();
  private int copies;

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
    this.poison = new OnePerBlock(options.poisonRate(), ~options.seed(), Integer.MAX_VALUE);
    // Constants apart from the other streams' (~seed, the swallow stream's), so the draws are
    // unrelated and a seed's other events stay what they were.
    this.hang = new OnePerBlock(options.hangRate(), options.seed() ^ 0x4A96_0B1CL, FIRST_WITHIN);
    this.slowFail =
        new OnePerBlock(options.slowFailRate(), options.seed() ^ 0x510F_A11EL, FIRST_WITHIN);
    this.nextSeq = new int[options.keys()];
  }

  /** Draws the next event. */
  public Planned next() {
    int i = drawn.size();
    Random random = new Random(mix(options.seed(), i));
    int k = random.nextInt(options.keys());
    String key = "k" + k;
    boolean isPoison = poison.takes(i, true);
    boolean hangs = hang.takes(i, !isPoison);
    boolean failsSlowly = slowFail.takes(i, !isPoison && !hangs);
    boolean healthy = !isPoison && !hangs && !failsSlowly;
    ChaosEvent event =
        new ChaosEvent(
            idPrefix + "-" + i,
            key,
            ++nextSeq[k],
            isPoison,
            healthy && swallows(i),
            hangs,
            failsSlowly);
    List<Target> targets = new ArrayList<>();
    targets.add(new Target(original, partitionOf(key, options.partitions())));
    if (!hangs && random.nextDouble() < options.duplicateFraction()) {
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
    if (hangs) {
      hangIds.add(event.id());
    }
    if (failsSlowly) {
      slowFailIds.add(event.id());
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

  /**
   * One event in every block of {@code 1 / rate} events, at a place drawn from {@code seed} and the
   * block's number; in the first block among the first half of it and the first {@code firstWithin}
   * events. A place whose event is taken already moves to the next free event.
   */
  private static final class OnePerBlock {
    private final int block;
    private final long seed;
    private final int firstWithin;
    private int due;
    private boolean pending;

    OnePerBlock(double rate, long seed, int firstWithin) {
      this.block = rate <= 0 ? 0 : (int) Math.max(2, Math.round(1 / rate));
      this.seed = seed;
      this.firstWithin = firstWithin;
    }

    /**
     * Whether event {@code i} is the block's one; asked for every event in order, {@code free} when
     * no other kind took it.
     */
    boolean takes(int i, boolean free) {
      if (block == 0) {
        return false;
      }
      if (i % block == 0) {
        int number = i / block;
        int bound = number == 0 ? Math.max(1, Math.min(block / 2, firstWithin)) : block;
        due = number * block + new Random(mix(seed, number)).nextInt(bound);
        pending = true;
      }
      if (pending && i >= due && free) {
        pending = false;
        return true;
      }
      return false;
    }
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

  /** The ids of the drawn events whose handler hangs on every delivery. */
  public Set<String> hangIds() {
    return Set.copyOf(hangIds);
  }

  /** The ids of the drawn events whose handler sleeps past the lock, then fails, every delivery. */
  public Set<String> slowFailIds() {
    return Set.copyOf(slowFailIds);
  }

  /**
   * The reasons the one dead letter of {@code event} may give; empty for a healthy event, which
   * must be applied and never dead-lettered. Poison and slow-failing events: {@value
   * #HANDLER_FAILED}. Hung events: {@value #HANDLER_TIMEOUT}, or {@value #HANDLER_FAILED} for a
   * lock wait (see {@link #isExpectedDeadLetter}).
   */
  public Set<String> deadLetterReasons(ChaosEvent event) {
    if (event.hang()) {
      return Set.of(HANDLER_TIMEOUT, HANDLER_FAILED);
    }
    return event.healthy() ? Set.of() : Set.of(HANDLER_FAILED);
  }

  /**
   * Whether a dead letter giving {@code reason} and {@code exceptionClass} is the one {@code event}
   * must end with. A hung event's is {@value #HANDLER_TIMEOUT} when the watchdog gave up the last
   * delivery's own attempt. When an earlier delivery ended while its attempt still hung (a group
   * that does not renew locks, {@link ChaosOptions#shareRenewals()}, or a renewal the broker
   * refused), that attempt holds the event's lock until the server or the watchdog ends it, and the
   * last delivery's attempts time out waiting for it: then {@value #HANDLER_FAILED} with the
   * driver's exception ({@value #LOCK_WAIT_FAILURE}). A hung handler never throws, so no other
   * failure may be given for it.
   */
  public boolean isExpectedDeadLetter(ChaosEvent event, String reason, String exceptionClass) {
    if (!deadLetterReasons(event).contains(reason)) {
      return false;
    }
    return !event.hang()
        || reason.equals(HANDLER_TIMEOUT)
        || LOCK_WAIT_FAILURE.equals(exceptionClass);
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
