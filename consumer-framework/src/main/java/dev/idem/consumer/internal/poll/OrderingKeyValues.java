package dev.idem.consumer.internal.poll;

import dev.idem.consumer.OrderingKey;
import dev.idem.consumer.internal.dispatch.Work;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes ordering keys compare by content. Lanes are found by {@code equals}, and an array equals
 * only itself: {@code OrderingKeys.of(ConsumerRecord::key)} returns the key's {@code byte[]}, a new
 * array per record, so every record would get a lane of its own and one key's records would run
 * concurrently. Pure logic.
 */
public final class OrderingKeyValues {
  private static final Logger log = LoggerFactory.getLogger(OrderingKeyValues.class);

  private OrderingKeyValues() {}

  /**
   * The normalized ordering key of {@code record}; never throws for a failure of user code: a key
   * that cannot be read is {@link Work#UNREADABLE_ORDERING_KEY} (such records queue behind each
   * other).
   */
  public static Object read(OrderingKey orderingKey, ConsumerRecord<byte[], byte[]> record) {
    try {
      return normalize(orderingKey.of(record));
    } catch (Exception | LinkageError | StackOverflowError e) {
      // User code must not stop the poll loop or a worker.
      log.debug(
          "ordering key of {}-{}@{} could not be read: {}",
          record.topic(),
          record.partition(),
          record.offset(),
          e.toString());
      return Work.UNREADABLE_ORDERING_KEY;
    }
  }

  /** {@code key}, or an equivalent that compares arrays by content. */
  static Object normalize(Object key) {
    if (key == null || !key.getClass().isArray()) {
      return key;
    }
    if (key instanceof byte[] bytes) {
      return ByteBuffer.wrap(bytes);
    }
    return new ArrayKey(key);
  }

  /** Any other array, compared and hashed by its (deep) content. */
  private record ArrayKey(Object array) {
    @Override
    public boolean equals(Object o) {
      return o instanceof ArrayKey other && Arrays.deepEquals(wrap(array), wrap(other.array));
    }

    @Override
    public int hashCode() {
      return Arrays.deepHashCode(wrap(array));
    }

    @Override
    public String toString() {
      return Arrays.deepToString(wrap(array));
    }

    private static Object[] wrap(Object array) {
      return new Object[] {array};
    }
  }
}
