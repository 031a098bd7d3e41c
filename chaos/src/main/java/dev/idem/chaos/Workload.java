package dev.idem.chaos;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The events of one run, derived from the seed alone, in production order.
 *
 * <p>Each unique event belongs to an ordering key and has the next sequence number of that key. Its
 * original record goes to the first topic, at the partition of its key, so a key's originals share
 * one partition in sequence order. Some events get extra copies on random partitions of both
 * topics; the copies are produced right after their original, so in every partition a key's records
 * still come in non-decreasing sequence order. Poison events make the handler fail every time.
 */
public final class Workload {
  private final List<Planned> events;
  private final Set<String> poisonIds;
  private final int copies;

  /** Where one record goes. */
  public record Target(String topic, int partition) {}

  /**
   * One unique event and where its records go, the original first.
   *
   * @param event the payload
   * @param targets the original's target, then one per extra copy
   */
  public record Planned(ChaosEvent event, List<Target> targets) {}

  private Workload(List<Planned> events, Set<String> poisonIds, int copies) {
    this.events = List.copyOf(events);
    this.poisonIds = Set.copyOf(poisonIds);
    this.copies = copies;
  }

  /**
   * Generates the workload of {@code options} for the run whose ids start with {@code idPrefix}, on
   * topics {@code original} (originals and copies) and {@code other} (copies only).
   */
  public static Workload generate(
      ChaosOptions options, String idPrefix, String original, String other) {
    Random random = new Random(options.seed());
    int n = options.events();
    int partitions = options.partitions();
    List<Integer> indices = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      indices.add(i);
    }
    Collections.shuffle(indices, random);
    int poisonCount = n == 0 ? 0 : Math.max(1, (int) Math.round(n * options.poisonRate()));
    Set<Integer> poison = new HashSet<>(indices.subList(0, poisonCount));
    Collections.shuffle(indices, random);
    int duplicatedCount = (int) Math.round(n * options.duplicateFraction());
    Set<Integer> duplicated = new HashSet<>(indices.subList(0, duplicatedCount));

    int[] nextSeq = new int[options.keys()];
    List<Planned> planned = new ArrayList<>(n);
    Set<String> poisonIds = new LinkedHashSet<>();
    int copies = 0;
    for (int i = 0; i < n; i++) {
      int k = random.nextInt(options.keys());
      String key = "k" + k;
      ChaosEvent event = new ChaosEvent(idPrefix + "-" + i, key, ++nextSeq[k], poison.contains(i));
      List<Target> targets = new ArrayList<>();
      targets.add(new Target(original, partitionOf(key, partitions)));
      if (duplicated.contains(i)) {
        int extra =
            options.minCopies() + random.nextInt(options.maxCopies() - options.minCopies() + 1);
        for (int c = 0; c < extra; c++) {
          String topic = random.nextBoolean() ? original : other;
          targets.add(new Target(topic, random.nextInt(partitions)));
        }
        copies += extra;
      }
      if (event.poison()) {
        poisonIds.add(event.id());
      }
      planned.add(new Planned(event, targets));
    }
    return new Workload(planned, poisonIds, copies);
  }

  /** The partition of a key's original records. */
  public static int partitionOf(String key, int partitions) {
    return Math.floorMod(key.hashCode(), partitions);
  }

  /** The unique events in production order. */
  public List<Planned> events() {
    return events;
  }

  /** The ids of the poison events. */
  public Set<String> poisonIds() {
    return poisonIds;
  }

  /** How many extra copies the workload holds. */
  public int copies() {
    return copies;
  }

  /** How many records the workload holds: originals plus copies. */
  public int records() {
    return events.size() + copies;
  }
}
