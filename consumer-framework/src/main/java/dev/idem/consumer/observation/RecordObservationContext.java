package dev.idem.consumer.observation;

import io.micrometer.observation.transport.ReceiverContext;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * The context of one observed record transaction: an attempt at a record (operation {@code
 * process}) or the writing of its dead letter (operation {@code dead-letter}). A receiver context,
 * so a tracing handler continues the trace of the record's {@code traceparent} header.
 */
public final class RecordObservationContext
    extends ReceiverContext<ConsumerRecord<byte[], byte[]>> {
  /** What the observation covers. */
  public enum Operation {
    /** An attempt: read, lock, check and mark, handler, commit. */
    PROCESS("process"),
    /** The transaction that writes the record's dead letter (and publishes it, with a topic). */
    DEAD_LETTER("dead-letter");

    private final String tagValue;

    Operation(String tagValue) {
      this.tagValue = tagValue;
    }

    /** The value of the {@code idem.operation} tag. */
    public String tagValue() {
      return tagValue;
    }
  }

  private final String consumerName;
  private final Operation operation;
  private final int attempt;
  private String eventId;
  private TransactionOutcome outcome;

  /** The context of {@code operation} on {@code record} by consumer {@code consumerName}. */
  public RecordObservationContext(
      String consumerName,
      ConsumerRecord<byte[], byte[]> record,
      Operation operation,
      int attempt) {
    super(RecordObservationContext::header);
    setCarrier(record);
    setRemoteServiceName("kafka");
    this.consumerName = consumerName;
    this.operation = operation;
    this.attempt = attempt;
  }

  private static String header(ConsumerRecord<byte[], byte[]> record, String key) {
    Header h = record.headers().lastHeader(key);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  /** The record. */
  public ConsumerRecord<byte[], byte[]> record() {
    return getCarrier();
  }

  /** The consumer's name. */
  public String consumerName() {
    return consumerName;
  }

  /** What the observation covers. */
  public Operation operation() {
    return operation;
  }

  /** The 1-based attempt (for a dead letter: the attempts it took). */
  public int attempt() {
    return attempt;
  }

  /** The record's event id, once read; null before, or when it has no valid one. */
  public String eventId() {
    return eventId;
  }

  /** How it ended; null until it has. */
  public TransactionOutcome outcome() {
    return outcome;
  }

  /**
   * The traces this record's span links to: the original trace of a replayed dead letter (header
   * {@value Traceparent#LINKED_HEADER}).
   */
  public List<Traceparent> links() {
    List<Traceparent> links = new ArrayList<>(1);
    for (Header h : record().headers().headers(Traceparent.LINKED_HEADER)) {
      Traceparent t =
          h.value() == null
              ? null
              : Traceparent.parse(new String(h.value(), StandardCharsets.UTF_8));
      if (t != null) {
        links.add(t);
      }
    }
    return links;
  }

  /** Set by idem as the transaction learns the id. */
  public void setEventId(String eventId) {
    this.eventId = eventId;
  }

  /** Set by idem when the transaction ends. */
  public void setOutcome(TransactionOutcome outcome) {
    this.outcome = outcome;
  }
}
