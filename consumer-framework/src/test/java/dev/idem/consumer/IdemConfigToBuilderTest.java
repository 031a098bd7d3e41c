package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A configuration changed through {@link IdemConfig#toBuilder()} is checked as a new one is: the
 * checks the record's canonical constructor made, before {@code IdemConfig} became a class.
 */
class IdemConfigToBuilderTest {

  private static final IdemConfig VALID =
      IdemConfig.builder("ledger").bootstrapServers("localhost:9092").topics("payments").build();

  @Test
  void aChangedCopyRefusesAConcurrencyOfZeroByItsKey() {
    assertThatThrownBy(() -> VALID.toBuilder().concurrency(0).build())
        .isInstanceOf(IdemConfigException.class)
        .satisfies(
            e -> assertThat(((IdemConfigException) e).key()).isEqualTo("consumer.concurrency"))
        .hasMessageContaining("use a number from 1 to 10000");
  }

  @Test
  void aChangedCopyRefusesAnEmptyTopicListByItsKey() {
    assertThatThrownBy(() -> VALID.toBuilder().topics().build())
        .isInstanceOf(IdemConfigException.class)
        .satisfies(e -> assertThat(((IdemConfigException) e).key()).isEqualTo("consumer.topics"));
  }

  @Test
  void aChangedCopyRefusesAutoCommitInTheKafkaProperties() {
    assertThatThrownBy(() -> VALID.toBuilder().kafka("enable.auto.commit", "true").build())
        .isInstanceOf(IdemConfigException.class)
        .satisfies(
            e -> assertThat(((IdemConfigException) e).key()).isEqualTo("kafka.enable.auto.commit"));
  }

  @Test
  void anUnchangedCopyOfAValidConfigurationIsEqualToIt() {
    assertThat(VALID.toBuilder().build()).isEqualTo(VALID).hasSameHashCodeAs(VALID);
    assertThat(VALID.lockTimeout()).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void aCopyDerivesItsDefaultsAgainFromWhatChanged() {
    IdemConfig wider = VALID.toBuilder().concurrency(4).build();

    assertThat(VALID.maxAbandonedWorkers()).isEqualTo(1);
    assertThat(wider.maxAbandonedWorkers()).as("the concurrency, by default").isEqualTo(4);
    assertThat(wider.consumerName()).isEqualTo("ledger");
    assertThat(wider.topics()).containsExactly("payments");
  }

  @Test
  void aChangedCopyLeavesTheOriginalAndItsBuilderAsTheyWere() {
    IdemConfig.Builder builder = VALID.toBuilder();
    builder.concurrency(3);

    assertThat(VALID.concurrency()).isEqualTo(1);
    assertThat(VALID.toBuilder().build().concurrency()).isEqualTo(1);
  }

  @Test
  void everyRefusedSettingIsNamedAtOnceTheFirstInTableOrderAsTheKey() {
    assertThatThrownBy(
            () ->
                VALID.toBuilder()
                    .concurrency(0)
                    .lockTimeout(Duration.ZERO)
                    .batchSize(0)
                    .kafka("enable.auto.commit", "true")
                    .build())
        .isInstanceOfSatisfying(
            IdemConfigException.class,
            e -> {
              assertThat(e.key()).isEqualTo("consumer.lock-timeout");
              assertThat(e.refused())
                  .containsOnlyKeys(
                      "consumer.lock-timeout",
                      "consumer.concurrency",
                      "consumer.batch.size",
                      "kafka.enable.auto.commit");
              assertThat(e.getMessage().lines())
                  .hasSize(4)
                  .allSatisfy(line -> assertThat(e.refused()).containsKey(line.split(":")[0]));
            });
  }
}
