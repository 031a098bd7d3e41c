package dev.idem.consumer.internal.poll;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Makes ordering keys compare by content. Lanes are found by {@code equals}, and an array equals
 * only itself: {@code OrderingKeys.of(ConsumerRecord::key)} returns the key's {@code byte[]}, a new
 * array per record, so every record would get a lane of its own and one key's records would run
 * concurrently. Pure logic.
 */
final class OrderingKeyValues {
  private OrderingKeyValues() {}

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
