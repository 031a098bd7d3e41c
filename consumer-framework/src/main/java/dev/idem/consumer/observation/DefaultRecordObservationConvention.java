package dev.idem.consumer.observation;

import io.micrometer.common.KeyValues;

/**
 * idem's names and tags of record observations: name {@code idem.record} (a timer {@code
 * idem.record} where a meter handler is registered), contextual (span) name {@code process <topic>}
 * or {@code dead-letter <topic>}. Low-cardinality tags, which also tag the timer: consumer, topic,
 * operation, outcome, messaging system. High-cardinality tags, on the span only: partition, offset,
 * event id, attempt.
 */
public class DefaultRecordObservationConvention implements RecordObservationConvention {
  /** The observation's name. */
  public static final String NAME = "idem.record";

  @Override
  public String getName() {
    return NAME;
  }

  @Override
  public String getContextualName(RecordObservationContext context) {
    return context.operation().tagValue() + " " + context.record().topic();
  }

  @Override
  public KeyValues getLowCardinalityKeyValues(RecordObservationContext context) {
    TransactionOutcome outcome = context.outcome();
    return KeyValues.of(
        IdemKeyNames.CONSUMER.withValue(context.consumerName()),
        IdemKeyNames.DESTINATION.withValue(context.record().topic()),
        IdemKeyNames.OPERATION.withValue(context.operation().tagValue()),
        IdemKeyNames.OUTCOME.withValue(outcome == null ? "none" : outcome.tagValue()),
        IdemKeyNames.MESSAGING_SYSTEM.withValue("kafka"));
  }

  @Override
  public KeyValues getHighCardinalityKeyValues(RecordObservationContext context) {
    KeyValues values =
        KeyValues.of(
            IdemKeyNames.PARTITION.withValue(Integer.toString(context.record().partition())),
            IdemKeyNames.OFFSET.withValue(Long.toString(context.record().offset())),
            IdemKeyNames.ATTEMPT.withValue(Integer.toString(context.attempt())));
    return context.eventId() == null
        ? values
        : values.and(IdemKeyNames.EVENT_ID.withValue(context.eventId()));
  }
}
