package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.bootstrap;
import static dev.idem.consumer.IdemTestSupport.shareConsumerBuilder;

import dev.idem.testkit.TestInfrastructure;
import java.util.Map;
import javax.sql.DataSource;

/**
 * {@link ConsumerContractTest} for {@link IdempotentShareConsumer}: a share group, whose members
 * share the records of every partition. The group's acquisition lock is 2 s (the broker's default
 * is 30 s), so that a record a consumer lets go is back within the test's time.
 */
class ShareGroupContractTest extends ConsumerContractTest {

  @Override
  ConsumerBuilder<String, ?> builder(IdemConfig config, DataSource pool) {
    return shareConsumerBuilder(config, Payloads.utf8(), pool);
  }

  @Override
  void prepareGroup(String group) {
    TestInfrastructure.setGroupConfig(
        bootstrap(), group, Map.of("share.record.lock.duration.ms", "2000"));
  }

  /** A share consumer's snapshot names no partitions: it gets records once it runs and polls. */
  @Override
  boolean joined(IdemConsumer consumer) {
    return consumer.health().ready();
  }
}
