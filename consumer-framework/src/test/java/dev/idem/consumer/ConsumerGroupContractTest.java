package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.consumerBuilder;

import javax.sql.DataSource;

/**
 * {@link ConsumerContractTest} for {@link IdempotentConsumer}: a consumer group, whose members
 * share a topic's partitions between them. The group needs no settings of its own: the test
 * broker's short sessions and heartbeats are enough.
 */
class ConsumerGroupContractTest extends ConsumerContractTest {

  @Override
  ConsumerBuilder<String, ?> builder(IdemConfig config, DataSource pool) {
    return consumerBuilder(config, Payloads.utf8(), pool);
  }

  @Override
  void prepareGroup(String group) {}

  /** A member has partitions once the group's rebalance gave it some. */
  @Override
  boolean joined(IdemConsumer consumer) {
    return !consumer.snapshot().assigned().isEmpty();
  }
}
