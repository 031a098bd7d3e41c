package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

/**
 * What a thread did with a connection, statement or result set that a handler leaked to it: each
 * use it tried, and how it ended.
 */
final class LeakedUses {

  /** One use of a leaked object. */
  @FunctionalInterface
  interface Use {
    void run() throws Exception;
  }

  private LeakedUses() {}

  /** Tries each use in turn; returns how each ended: what it threw, or "went through". */
  static List<String> tryAll(Use... uses) {
    List<String> outcomes = new ArrayList<>();
    for (Use use : uses) {
      try {
        use.run();
        outcomes.add("went through");
      } catch (Exception e) {
        outcomes.add(e.getClass().getName() + ": " + e.getMessage());
      }
    }
    return outcomes;
  }

  /** Asserts that every use was refused with an exception naming the handler's event id. */
  static void assertAllRefused(List<String> outcomes, String eventId) {
    assertThat(outcomes)
        .isNotEmpty()
        .allSatisfy(
            outcome ->
                assertThat(outcome)
                    .startsWith(IllegalStateException.class.getName())
                    .contains("event id " + eventId));
  }
}
