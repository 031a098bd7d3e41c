package dev.idem;

/**
 * The root of every exception idem throws. Unchecked.
 *
 * <p>When the failure concerns one record, the exception carries its coordinates ({@link #topic()},
 * {@link #partition()}, {@link #offset()}) and, when known, its {@link #eventId()}; the message
 * names them too.
 */
public class IdemException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String topic;
  private final int partition;
  private final long offset;
  private final String eventId;

  /** A failure not tied to one record. */
  public IdemException(String message) {
    this(message, null);
  }

  /** A failure not tied to one record. */
  public IdemException(String message, Throwable cause) {
    super(message, cause);
    this.topic = null;
    this.partition = -1;
    this.offset = -1;
    this.eventId = null;
  }

  /** A failure of one record; {@code eventId} may be null when the record has none. */
  public IdemException(
      String message, String topic, int partition, long offset, String eventId, Throwable cause) {
    super(describe(message, topic, partition, offset, eventId), cause);
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.eventId = eventId;
  }

  private static String describe(
      String message, String topic, int partition, long offset, String eventId) {
    StringBuilder sb = new StringBuilder(message).append(" [record ");
    sb.append(topic).append('-').append(partition).append('@').append(offset);
    if (eventId != null) {
      sb.append(", event id ").append(eventId);
    }
    return sb.append(']').toString();
  }

  /** The record's topic, or null when the failure is not tied to a record. */
  public String topic() {
    return topic;
  }

  /** The record's partition, or -1. */
  public int partition() {
    return partition;
  }

  /** The record's offset, or -1. */
  public long offset() {
    return offset;
  }

  /** The record's event id, or null when unknown or unusable. */
  public String eventId() {
    return eventId;
  }
}
