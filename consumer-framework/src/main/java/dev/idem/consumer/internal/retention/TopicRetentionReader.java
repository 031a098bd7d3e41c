package dev.idem.consumer.internal.retention;

import dev.idem.consumer.internal.config.KafkaClientProperties;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Reads topics' retention settings from the brokers ({@code describeConfigs}, which reports the
 * effective values: the topic's own or the broker's default), within a time bound.
 */
public final class TopicRetentionReader {
  private final Map<String, Object> adminProperties;

  /**
   * @param kafka the consumer's Kafka properties: the connection and security settings are used
   * @param clientId the admin client's id
   */
  public TopicRetentionReader(Map<String, Object> kafka, String clientId) {
    this.adminProperties = KafkaClientProperties.admin(kafka, clientId);
  }

  /**
   * What the brokers said.
   *
   * @param topics the settings of the topics that exist
   * @param missing topics that do not exist (yet)
   * @param unreadable topics whose settings could not be read, with the reason (for example a
   *     missing {@code DESCRIBE_CONFIGS} permission)
   */
  public record Reading(
      List<TopicRetention> topics, List<String> missing, Map<String, String> unreadable) {
    public Reading {
      topics = List.copyOf(topics);
      missing = List.copyOf(missing);
      unreadable = Map.copyOf(unreadable);
    }
  }

  /** The brokers did not answer within the bound, or could not be reached at all. */
  public static final class Unanswered extends Exception {
    private static final long serialVersionUID = 1L;

    Unanswered(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * Reads the settings of {@code topics}, giving up after {@code timeout}.
   *
   * @throws Unanswered when the brokers did not answer in time or could not be reached
   */
  public Reading read(Collection<String> topics, Duration timeout) throws Unanswered {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<String, Object> props = new HashMap<>(adminProperties);
    // Without these the client retries for its default 60 s, and close() waits for it.
    String millis = Long.toString(Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis())));
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, millis);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, millis);
    Admin admin;
    try {
      admin = Admin.create(props);
    } catch (KafkaException e) {
      throw new Unanswered("cannot create an admin client: " + e.getMessage(), e);
    }
    try {
      return read(admin, topics, deadline);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Unanswered("interrupted", e);
    } catch (TimeoutException e) {
      throw new Unanswered("no answer within " + timeout.toMillis() + " ms", e);
    } catch (ExecutionException e) {
      throw new Unanswered(String.valueOf(e.getCause()), e.getCause());
    } finally {
      admin.close(Duration.ZERO);
    }
  }

  private static Reading read(Admin admin, Collection<String> topics, long deadline)
      throws InterruptedException, ExecutionException, TimeoutException {
    Collection<Node> nodes = get(admin.describeCluster().nodes(), deadline);
    List<ConfigResource> resources = new ArrayList<>();
    for (String topic : topics) {
      resources.add(new ConfigResource(ConfigResource.Type.TOPIC, topic));
    }
    List<ConfigResource> brokers = new ArrayList<>();
    for (Node node : nodes) {
      brokers.add(new ConfigResource(ConfigResource.Type.BROKER, node.idString()));
    }
    resources.addAll(brokers);
    Map<ConfigResource, KafkaFuture<Config>> answers = admin.describeConfigs(resources).values();
    long checkInterval = checkInterval(answers, brokers, deadline);
    List<TopicRetention> found = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    Map<String, String> unreadable = new LinkedHashMap<>();
    for (String topic : topics) {
      Config config;
      try {
        config = get(answers.get(new ConfigResource(ConfigResource.Type.TOPIC, topic)), deadline);
      } catch (ExecutionException e) {
        if (e.getCause() instanceof UnknownTopicOrPartitionException) {
          missing.add(topic);
        } else if (e.getCause() instanceof TimeoutException) {
          throw e;
        } else {
          unreadable.put(topic, String.valueOf(e.getCause()));
        }
        continue;
      }
      try {
        found.add(
            new TopicRetention(
                topic,
                longValue(config, "retention.ms"),
                longValue(config, "segment.ms"),
                stringValue(config, "cleanup.policy"),
                checkInterval));
      } catch (IllegalArgumentException e) {
        unreadable.put(topic, e.getMessage());
      }
    }
    return new Reading(found, missing, unreadable);
  }

  /** The longest interval any broker reports; Kafka's default for brokers that do not say. */
  private static long checkInterval(
      Map<ConfigResource, KafkaFuture<Config>> answers, List<ConfigResource> brokers, long deadline)
      throws InterruptedException, TimeoutException {
    long longest = 0;
    for (ConfigResource broker : brokers) {
      long interval = TopicRetention.DEFAULT_CHECK_INTERVAL_MS;
      try {
        interval = longValue(get(answers.get(broker), deadline), "log.retention.check.interval.ms");
      } catch (ExecutionException | IllegalArgumentException e) {
        // Not allowed to read broker settings, or an old broker: assume the default.
      }
      longest = Math.max(longest, interval);
    }
    return longest == 0 ? TopicRetention.DEFAULT_CHECK_INTERVAL_MS : longest;
  }

  private static long longValue(Config config, String name) {
    ConfigEntry entry = config.get(name);
    if (entry == null || entry.value() == null) {
      throw new IllegalArgumentException(name + " is not reported");
    }
    try {
      return Long.parseLong(entry.value().trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + "=" + entry.value() + " is not a number");
    }
  }

  private static String stringValue(Config config, String name) {
    ConfigEntry entry = config.get(name);
    if (entry == null || entry.value() == null) {
      throw new IllegalArgumentException(name + " is not reported");
    }
    return entry.value();
  }

  private static <T> T get(KafkaFuture<T> future, long deadline)
      throws InterruptedException, ExecutionException, TimeoutException {
    return future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
  }
}
