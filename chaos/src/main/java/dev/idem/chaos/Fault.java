package dev.idem.chaos;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The faults a chaos run injects. */
public enum Fault {
  /** {@code kill -9} of a random consumer process, restarted a second or two later. */
  KILL("kill"),
  /** A graceful stop of a random consumer, then a start (one step of a rolling restart). */
  GRACEFUL_RESTART("restart"),
  /** Two consumers stop gracefully, the last one takes every partition, then two start again. */
  SCALE_IN_OUT("scale"),
  /** {@code pg_terminate_backend} of every database session of the consumers. */
  TERMINATE_SESSIONS("terminate"),
  /** PostgreSQL stops (fast shutdown) and starts again on the same data. */
  POSTGRES_RESTART("pg-restart"),
  /** The broker stops gracefully and starts again on the same data. */
  BROKER_RESTART("broker-restart"),
  /**
   * A random consumer halts ({@code Runtime.halt}) right after its next database commit, before the
   * offset is committed to Kafka; it is restarted a second later.
   */
  HALT_AFTER_COMMIT("halt"),
  /** The proxy in front of PostgreSQL drops the replies to the next few COMMITs. */
  AMBIGUOUS_COMMIT("ambiguous-commit"),
  /**
   * Outbox runs only: the process whose outbox relay leads halts ({@code Runtime.halt}, as {@code
   * kill -9}) right after a round's Kafka transaction committed, before the round's rows are marked
   * sent; it is restarted a second later.
   */
  RELAY_HALT("relay-halt");

  private final String label;

  Fault(String label) {
    this.label = label;
  }

  /** The name used in logs, reports and the {@code idem.chaos.faults} property. */
  public String label() {
    return label;
  }

  /** Every fault that applies to a run: all but {@link #RELAY_HALT} unless the outbox is on. */
  public static java.util.List<Fault> defaults(boolean outbox) {
    return Arrays.stream(values()).filter(f -> outbox || f != RELAY_HALT).toList();
  }

  /**
   * The fault labelled {@code label}.
   *
   * @throws IllegalArgumentException naming the known labels
   */
  public static Fault of(String label) {
    String wanted = label.trim().toLowerCase(Locale.ROOT);
    for (Fault f : values()) {
      if (f.label.equals(wanted)) {
        return f;
      }
    }
    throw new IllegalArgumentException(
        "unknown fault '"
            + label
            + "'; known: "
            + Arrays.stream(values()).map(Fault::label).collect(Collectors.joining(", ")));
  }
}
