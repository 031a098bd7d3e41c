package dev.idem.consumer.internal.dispatch;

import org.apache.kafka.common.TopicPartition;

/**
 * A record that is done (processed, duplicate or dead-lettered), handed back to the poll thread.
 */
public record Completion(TopicPartition partition, long epoch, long offset) {}
