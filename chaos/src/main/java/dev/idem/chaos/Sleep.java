package dev.idem.chaos;

/** The orchestrator's pauses: an interrupt ends the run. */
final class Sleep {
  private Sleep() {}

  /** Sleeps {@code millis}; an interrupt sets the flag again and ends the run. */
  static void millis(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ChaosException("interrupted", e);
    }
  }
}
