package dev.idem.consumer.internal.lifecycle;

/**
 * What a started runtime knows about its health beyond the snapshot its poll thread publishes: the
 * background database probe's answer, and the workers stuck past their timeouts.
 */
public interface RuntimeSignals {

  /** A consumer that has not started: no answer from the database, no workers. */
  RuntimeSignals NOT_STARTED =
      new RuntimeSignals() {
        @Override
        public boolean databaseReachable() {
          return false;
        }

        @Override
        public int stuckWorkers() {
          return 0;
        }
      };

  /** Whether the database answered the last background probe. */
  boolean databaseReachable();

  /** Worker threads stuck past their timeouts. */
  int stuckWorkers();
}
