package dev.idem.consumer.observation;

import io.micrometer.common.KeyValues;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * idem's names and tags of batch observations: name {@code idem.batch}, contextual (span) name
 * {@code batch <topic>} or {@code group <topic>}. Low-cardinality tags: consumer, topic, operation
 * ({@code batch} or {@code group}), outcome, messaging system. High-cardinality: partition, first
 * offset, record count, attempt.
 */
public class DefaultBatchObservationConvention implements BatchObservationConvention {
  /** The observation's name. */
  public static final String NAME = "idem.batch";

  @Override
  public String getName() {
    return NAME;
  }

  @Override
  public String getContextualName(BatchObservationContext context) {
    return context.unit().tagValue() + " " + context.records().get(0).topic();
  }

  @Override
  public KeyValues getLowCardinalityKeyValues(BatchObservationContext context) {
    TransactionOutcome outcome = context.outcome();
    return KeyValues.of(
        IdemKeyNames.CONSUMER.withValue(context.consumerName()),
        IdemKeyNames.DESTINATION.withValue(context.records().get(0).topic()),
        IdemKeyNames.OPERATION.withValue(context.unit().tagValue()),
        IdemKeyNames.OUTCOME.withValue(outcome == null ? "none" : outcome.tagValue()),
        IdemKeyNames.MESSAGING_SYSTEM.withValue("kafka"));
  }

  @Override
  public KeyValues getHighCardinalityKeyValues(BatchObservationContext context) {
    ConsumerRecord<byte[], byte[]> first = context.records().get(0);
    return KeyValues.of(
        IdemKeyNames.PARTITION.withValue(Integer.toString(first.partition())),
        IdemKeyNames.OFFSET.withValue(Long.toString(first.offset())),
        IdemKeyNames.BATCH_SIZE.withValue(Integer.toString(context.records().size())),
        IdemKeyNames.ATTEMPT.withValue(Integer.toString(context.attempt())));
  }
}
