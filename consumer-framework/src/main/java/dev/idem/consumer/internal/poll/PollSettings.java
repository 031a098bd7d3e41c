package dev.idem.consumer.internal.poll;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.OrderingKey;
import java.time.Clock;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;

/**
 * What a {@link PollLoop} is configured with, apart from the collaborators it talks to.
 *
 * @param config the consumer's configuration (topics, Kafka properties, intervals, bounds)
 * @param clientFactory opens the Kafka client from {@code config.kafka()}
 * @param orderingKey which records of a partition run one at a time
 * @param clock for the snapshot's timestamps
 * @param maxPollRecords the most records one poll returns ({@code kafka.max.poll.records})
 */
public record PollSettings(
    IdemConfig config,
    Function<Map<String, Object>, Consumer<byte[], byte[]>> clientFactory,
    OrderingKey orderingKey,
    Clock clock,
    int maxPollRecords) {

  /** Settings for {@code config}, reading {@code max.poll.records} from its Kafka properties. */
  public static PollSettings of(
      IdemConfig config,
      Function<Map<String, Object>, Consumer<byte[], byte[]>> clientFactory,
      OrderingKey orderingKey,
      Clock clock) {
    Object max = config.kafka().getOrDefault(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
    return new PollSettings(
        config, clientFactory, orderingKey, clock, Integer.parseInt(Objects.toString(max).trim()));
  }
}
