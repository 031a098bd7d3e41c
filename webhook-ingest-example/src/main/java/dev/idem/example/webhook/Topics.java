package dev.idem.example.webhook;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creates the example's topics when they are missing, sized for the largest accepted webhook. */
final class Topics {
  private Topics() {}

  /**
   * Creates each topic unless it exists, with {@code max.message.bytes} = {@code maxRecordBytes},
   * and waits until every partition has a leader.
   */
  static void ensure(
      Admin admin, List<String> topics, int partitions, short replication, int maxRecordBytes)
      throws InterruptedException, ExecutionException, TimeoutException {
    List<NewTopic> wanted = new ArrayList<>();
    for (String topic : topics) {
      wanted.add(
          new NewTopic(topic, partitions, replication)
              .configs(Map.of("max.message.bytes", Integer.toString(maxRecordBytes))));
    }
    var results = admin.createTopics(wanted).values();
    for (var entry : results.entrySet()) {
      try {
        entry.getValue().get(30, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw e;
        }
      }
    }
    // A topic just created may not be known yet to the broker that answers the next request
    // (UnknownTopicOrPartition): describe and probe the leaders again until the deadline.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      try {
        admin.listOffsets(latestOfEveryPartition(admin, topics)).all().get(5, TimeUnit.SECONDS);
        return;
      } catch (ExecutionException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(50);
      }
    }
  }

  private static Map<TopicPartition, OffsetSpec> latestOfEveryPartition(
      Admin admin, List<String> topics)
      throws InterruptedException, ExecutionException, TimeoutException {
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    admin
        .describeTopics(topics)
        .allTopicNames()
        .get(5, TimeUnit.SECONDS)
        .forEach(
            (name, d) -> {
              for (int p = 0; p < d.partitions().size(); p++) {
                request.put(new TopicPartition(name, p), OffsetSpec.latest());
              }
            });
    return request;
  }
}
