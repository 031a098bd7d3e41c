package dev.idem.consumer.observation;

import io.micrometer.observation.Observation;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The context of one observed batch (batch mode) or grouped transaction (grouped mode): several
 * records of one partition in one transaction. Its span does not continue any one record's trace;
 * it links to each record's producer trace ({@link #links()}), which the handlers of {@link
 * dev.idem.consumer.observation.tracing.IdemTracing} turn into span links.
 */
public final class BatchObservationContext extends Observation.Context {
  /** Batch mode or grouped mode. */
  public enum Unit {
    /** One call of the batch handler. */
    BATCH("batch"),
    /** Per-record handler calls, each in a savepoint, in one transaction. */
    GROUP("group");

    private final String tagValue;

    Unit(String tagValue) {
      this.tagValue = tagValue;
    }

    /** The value of the {@code idem.operation} tag. */
    public String tagValue() {
      return tagValue;
    }
  }

  private final String consumerName;
  private final List<ConsumerRecord<byte[], byte[]>> records;
  private final Unit unit;
  private final int attempt;
  private TransactionOutcome outcome;

  /** The context of a transaction of {@code records} (one partition's, in offset order). */
  public BatchObservationContext(
      String consumerName, List<ConsumerRecord<byte[], byte[]>> records, Unit unit, int attempt) {
    this.consumerName = consumerName;
    this.records = List.copyOf(records);
    this.unit = unit;
    this.attempt = attempt;
  }

  /** The consumer's name. */
  public String consumerName() {
    return consumerName;
  }

  /** The records, in offset order. */
  public List<ConsumerRecord<byte[], byte[]>> records() {
    return records;
  }

  /** Batch or group. */
  public Unit unit() {
    return unit;
  }

  /** The 1-based attempt. */
  public int attempt() {
    return attempt;
  }

  /** How it ended; null until it has. */
  public TransactionOutcome outcome() {
    return outcome;
  }

  /** Set by idem when the transaction ends. */
  public void setOutcome(TransactionOutcome outcome) {
    this.outcome = outcome;
  }

  /**
   * The traces the batch's span links to: each record's {@code traceparent} (and a replayed one's
   * original), in offset order, each trace once.
   */
  public List<Traceparent> links() {
    Set<Traceparent> links = new LinkedHashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      for (String header : new String[] {Traceparent.HEADER, Traceparent.LINKED_HEADER}) {
        Traceparent t = Traceparent.fromHeaders(r.headers(), header);
        if (t != null) {
          links.add(t);
        }
      }
    }
    return List.copyOf(links);
  }
}
