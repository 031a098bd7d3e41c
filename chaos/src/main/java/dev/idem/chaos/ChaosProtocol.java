package dev.idem.chaos;

/**
 * The lines a consumer process and its orchestrator exchange. The process writes status lines to
 * its standard output; the orchestrator writes commands to its standard input.
 */
final class ChaosProtocol {
  /** The consumer started (its partitions are assigned asynchronously). */
  static final String READY = "READY";

  /** {@code ASSIGNED <n>}: the number of partitions the consumer owns changed. */
  static final String ASSIGNED = "ASSIGNED";

  /** {@code STATS key=value ...}: the consumer's counters changed. */
  static final String STATS = "STATS";

  /**
   * {@code HALT <topic>-<partition>@<offset>}: halting right after that record's commit; {@code
   * HALT relay-sent-<n>-rows}: halting right after the relay's Kafka commit of {@code n} rows.
   */
  static final String HALT = "HALT";

  /**
   * {@code SLOW-HANDLERS <running> <on-last-delivery>}: how many hung or slow-failing handlers run
   * now, and how many of them on the share group's last delivery of their record. Such a handler
   * keeps its consumer from acquiring, which the run counts as working. The broker archives a
   * record whose last delivery's holder dies, so the faults that end a process wait for one that
   * holds none.
   */
  static final String SLOW_HANDLERS = "SLOW-HANDLERS";

  /** The consumer closed gracefully; the process exits with 0. */
  static final String STOPPED = "STOPPED";

  /** {@code FAILED <reason>}: the consumer stopped on its own; the process exits with 4. */
  static final String FAILED = "FAILED";

  /** Command: close gracefully and exit. */
  static final String CMD_STOP = "stop";

  /** Command: halt right after the next database commit of a new event. */
  static final String CMD_HALT_AFTER_COMMIT = "halt-after-commit";

  /** Command: halt right after the outbox relay's next Kafka commit, before it marks the rows. */
  static final String CMD_HALT_RELAY_AFTER_SEND = "halt-relay-after-send";

  /** Command: take back {@link #CMD_HALT_RELAY_AFTER_SEND}. */
  static final String CMD_DISARM_RELAY_HALT = "disarm-relay-halt";

  /** The exit code of a process halted by the fault point. */
  static final int HALT_EXIT_CODE = 77;

  private ChaosProtocol() {}
}
