package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The record's public canonical constructor checks what {@link IdemConfig.Builder} checks. */
class IdemConfigConstructorTest {

  private static final IdemConfig VALID =
      IdemConfig.builder("ledger").bootstrapServers("localhost:9092").topics("payments").build();

  /** {@link #VALID} with its concurrency, topics and Kafka properties replaced. */
  private static IdemConfig copy(int concurrency, List<String> topics, Map<String, Object> kafka) {
    IdemConfig c = VALID;
    return new IdemConfig(
        c.consumerName(),
        topics,
        kafka,
        c.lockNamespace(),
        c.schema(),
        c.processedTable(),
        c.deadLetterTable(),
        c.deadLetterTopic(),
        c.lockTimeout(),
        c.handlerTimeout(),
        c.commitInterval(),
        c.drainTimeout(),
        c.pollTimeout(),
        concurrency,
        c.maxAbandonedWorkers(),
        c.maxInFlight(),
        c.maxInFlightBytes(),
        c.maxInFlightPerPartition(),
        c.maxUncommittedPerPartition(),
        c.retry(),
        c.batchSize(),
        c.batchMaxLocks(),
        c.transactionMaxRecords(),
        c.retentionWindow(),
        c.retentionInterval(),
        c.retentionBatchSize(),
        c.retentionAllowShorterThanTopic(),
        c.retentionTopicCheckTimeout(),
        c.offsetStore(),
        c.readRetryTimeout(),
        c.transactionStateCheck(),
        c.deadLetterMode(),
        c.database());
  }

  @Test
  void theCanonicalConstructorRefusesAConcurrencyOfZeroByItsKey() {
    assertThatThrownBy(() -> copy(0, VALID.topics(), VALID.kafka()))
        .isInstanceOf(IdemConfigException.class)
        .satisfies(
            e -> assertThat(((IdemConfigException) e).key()).isEqualTo("consumer.concurrency"))
        .hasMessageContaining("use a number from 1 to 10000");
  }

  @Test
  void theCanonicalConstructorRefusesANullTopicListByItsKey() {
    assertThatThrownBy(() -> copy(1, null, VALID.kafka()))
        .isInstanceOf(IdemConfigException.class)
        .satisfies(e -> assertThat(((IdemConfigException) e).key()).isEqualTo("consumer.topics"));
  }

  @Test
  void theCanonicalConstructorRefusesAutoCommitInTheKafkaProperties() {
    Map<String, Object> kafka = new java.util.HashMap<>(VALID.kafka());
    kafka.put("enable.auto.commit", "true");
    assertThatThrownBy(() -> copy(1, VALID.topics(), kafka))
        .isInstanceOf(IdemConfigException.class)
        .satisfies(
            e -> assertThat(((IdemConfigException) e).key()).isEqualTo("kafka.enable.auto.commit"));
  }

  @Test
  void aCopyOfAValidConfigurationIsEqualToIt() {
    assertThat(copy(1, VALID.topics(), VALID.kafka())).isEqualTo(VALID);
    assertThat(VALID.lockTimeout()).isEqualTo(Duration.ofSeconds(30));
  }
}
