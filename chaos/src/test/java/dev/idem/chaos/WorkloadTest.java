package dev.idem.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WorkloadTest {
  private static final ChaosOptions OPTIONS = ChaosOptions.builder("unit").seed(42).build();

  private static Workload draw(ChaosOptions options, int n) {
    return new Workload(options, "r", "a", "b").draw(n);
  }

  @Test
  void theSameSeedGivesTheSameEventsHoweverManyAreDrawn() {
    List<Workload.Planned> long1 = draw(OPTIONS, 3_000).events();
    assertThat(draw(OPTIONS, 3_000).events()).isEqualTo(long1);
    assertThat(draw(OPTIONS, 1_200).events()).isEqualTo(long1.subList(0, 1_200));
    assertThat(draw(OPTIONS.toBuilder().seed(43).build(), 3_000).events()).isNotEqualTo(long1);
  }

  @Test
  void everyPartitionSeesEachKeyInNonDecreasingSequence() {
    Map<String, Integer> lastSeq = new HashMap<>();
    Map<String, Integer> originalPartition = new HashMap<>();
    for (Workload.Planned p : draw(OPTIONS, 10_000).events()) {
      ChaosEvent e = p.event();
      Workload.Target original = p.targets().get(0);
      assertThat(original.topic()).isEqualTo("a");
      assertThat(originalPartition.computeIfAbsent(e.key(), k -> original.partition()))
          .as("originals of %s share a partition", e.key())
          .isEqualTo(original.partition());
      for (Workload.Target t : p.targets()) {
        String group = t.topic() + "-" + t.partition() + "/" + e.key();
        Integer last = lastSeq.put(group, e.seq());
        assertThat(last == null ? 0 : last).as(group).isLessThanOrEqualTo(e.seq());
      }
    }
  }

  @Test
  void sequencesCountUpPerKeyFromOne() {
    Map<String, Integer> next = new HashMap<>();
    for (Workload.Planned p : draw(OPTIONS, 5_000).events()) {
      int expected = next.merge(p.event().key(), 1, Integer::sum);
      assertThat(p.event().seq()).isEqualTo(expected);
    }
    assertThat(next).hasSizeGreaterThan(OPTIONS.keys() - 5);
  }

  @Test
  void aboutThirtyPercentGetTwoToFiveCopiesOnBothTopics() {
    Workload w = draw(OPTIONS, 10_000);
    List<Workload.Planned> duplicated =
        w.events().stream().filter(p -> p.targets().size() > 1).toList();
    assertThat(duplicated.size() / 10_000.0).isCloseTo(0.3, within(0.02));
    assertThat(duplicated).allSatisfy(p -> assertThat(p.targets().size() - 1).isBetween(2, 5));
    Set<String> topics = new HashSet<>();
    duplicated.forEach(p -> p.targets().forEach(t -> topics.add(t.topic())));
    assertThat(topics).containsExactlyInAnyOrder("a", "b");
    assertThat(w.records()).isEqualTo(10_000 + w.copies());
    assertThat(w.copies())
        .isEqualTo(duplicated.stream().mapToInt(p -> p.targets().size() - 1).sum());
  }

  @Test
  void oneEventInAThousandIsPoisonAndTheFirstComesEarly() {
    Workload w = draw(OPTIONS, 10_000);
    assertThat(w.poisonIds()).hasSize(10);
    assertThat(w.events()).filteredOn(p -> p.event().poison()).hasSize(10);
    for (long seed = 0; seed < 50; seed++) {
      assertThat(draw(OPTIONS.toBuilder().seed(seed).build(), 500).poisonIds())
          .as("seed %d", seed)
          .hasSize(1);
    }
  }

  @Test
  void aSeededShareOfHealthyEventsSwallowAnSqlErrorWithoutChangingTheRestOfTheStream() {
    ChaosOptions swallowing = OPTIONS.toBuilder().swallowRate(0.05).build();
    ChaosOptions plain = OPTIONS.toBuilder().swallowRate(0).build();
    List<Workload.Planned> with = draw(swallowing, 10_000).events();
    List<Workload.Planned> without = draw(plain, 10_000).events();

    List<Workload.Planned> swallow = with.stream().filter(p -> p.event().swallow()).toList();
    assertThat(swallow.size() / 10_000.0).isCloseTo(0.05, within(0.01));
    assertThat(swallow).noneMatch(p -> p.event().poison());
    assertThat(without).noneMatch(p -> p.event().swallow());
    assertThat(draw(swallowing, 10_000).swallowIds()).hasSize(swallow.size());
    // The trait draws from a stream of its own: keys, sequences, copies and poison events of a
    // seed stay what they were, so seeds recorded before the trait replay the same events.
    for (int i = 0; i < with.size(); i++) {
      ChaosEvent a = with.get(i).event();
      ChaosEvent b = without.get(i).event();
      assertThat(new ChaosEvent(a.id(), a.key(), a.seq(), a.poison(), false, false, false))
          .isEqualTo(b);
      assertThat(with.get(i).targets()).isEqualTo(without.get(i).targets());
    }
  }

  @Test
  void aShareGroupRunHasOneHungAndOneSlowFailingEventEarlyAndFewLaterWithoutChangingTheRest() {
    ChaosOptions share = OPTIONS.toBuilder().share(true).build();
    ChaosOptions plain = OPTIONS.toBuilder().share(true).hangRate(0).slowFailRate(0).build();
    assertThat(share.hangRate()).isEqualTo(ChaosOptions.DEFAULT_HANG_RATE);
    assertThat(share.slowFailRate()).isEqualTo(ChaosOptions.DEFAULT_SLOW_FAIL_RATE);
    for (long seed = 0; seed < 50; seed++) {
      Workload w = draw(share.toBuilder().seed(seed).build(), Workload.FIRST_WITHIN);
      assertThat(w.hangIds()).as("seed %d", seed).hasSize(1);
      assertThat(w.slowFailIds()).as("seed %d", seed).hasSize(1);
      assertThat(w.hangIds()).doesNotContainAnyElementsOf(w.slowFailIds());
    }
    List<Workload.Planned> with = draw(share, 100_000).events();
    List<Workload.Planned> without = draw(plain, 100_000).events();
    List<Workload.Planned> hung = with.stream().filter(p -> p.event().hang()).toList();
    List<Workload.Planned> slow = with.stream().filter(p -> p.event().slowFail()).toList();
    assertThat(hung).hasSize(5);
    assertThat(slow).hasSize(5);
    // A copy of a hung event would wait behind its hung attempt and could be dead-lettered for
    // that lock wait instead: hung events have none.
    assertThat(hung).allSatisfy(p -> assertThat(p.targets()).hasSize(1));
    assertThat(hung).noneMatch(p -> p.event().poison() || p.event().swallow());
    assertThat(slow).noneMatch(p -> p.event().poison() || p.event().swallow());
    // Their streams are their own: the rest of a seed's events stay what they were.
    for (int i = 0; i < with.size(); i++) {
      ChaosEvent a = with.get(i).event();
      ChaosEvent b = without.get(i).event();
      if (a.healthy()) {
        assertThat(a).isEqualTo(b);
        assertThat(with.get(i).targets()).isEqualTo(without.get(i).targets());
      } else {
        assertThat(a.poison()).isEqualTo(b.poison());
        assertThat(with.get(i).targets().get(0)).isEqualTo(without.get(i).targets().get(0));
      }
    }
  }

  @Test
  void eachKindOfEventHasItsStatedDeadLetter() {
    Workload w = draw(OPTIONS.toBuilder().share(true).build(), 1_000);
    String lockWait = Workload.LOCK_WAIT_FAILURE;
    for (Workload.Planned p : w.events()) {
      ChaosEvent e = p.event();
      if (e.hang()) {
        assertThat(w.isExpectedDeadLetter(e, Workload.HANDLER_TIMEOUT, "any")).isTrue();
        // Only a lock wait behind an earlier delivery's hung attempt: a hung handler never throws.
        assertThat(w.isExpectedDeadLetter(e, Workload.HANDLER_FAILED, lockWait)).isTrue();
        assertThat(w.isExpectedDeadLetter(e, Workload.HANDLER_FAILED, "java.lang.Exception"))
            .isFalse();
      } else if (e.poison() || e.slowFail()) {
        assertThat(w.isExpectedDeadLetter(e, Workload.HANDLER_FAILED, "any")).isTrue();
        assertThat(w.isExpectedDeadLetter(e, Workload.HANDLER_TIMEOUT, "any")).isFalse();
      } else {
        assertThat(w.deadLetterReasons(e)).isEmpty();
        assertThat(w.isExpectedDeadLetter(e, Workload.HANDLER_FAILED, lockWait)).isFalse();
      }
    }
  }
}
