package dev.idem.consumer.internal.poll;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OrderingKeyValuesTest {

  @Test
  void byteArraysWithTheSameContentAreTheSameKey() {
    Object a = OrderingKeyValues.normalize("acct-1".getBytes(StandardCharsets.UTF_8));
    Object b = OrderingKeyValues.normalize("acct-1".getBytes(StandardCharsets.UTF_8));
    Object c = OrderingKeyValues.normalize("acct-2".getBytes(StandardCharsets.UTF_8));
    assertThat(a).isEqualTo(b).hasSameHashCodeAs(b).isNotEqualTo(c);
  }

  @Test
  void otherArraysCompareByContentToo() {
    assertThat(OrderingKeyValues.normalize(new int[] {1, 2}))
        .isEqualTo(OrderingKeyValues.normalize(new int[] {1, 2}))
        .isNotEqualTo(OrderingKeyValues.normalize(new int[] {2, 1}));
    assertThat(OrderingKeyValues.normalize(new Object[] {"a", new long[] {3}}))
        .isEqualTo(OrderingKeyValues.normalize(new Object[] {"a", new long[] {3}}));
  }

  @Test
  void everythingElseIsLeftAlone() {
    assertThat(OrderingKeyValues.normalize("acct")).isEqualTo("acct");
    assertThat(OrderingKeyValues.normalize(null)).isNull();
    Object key = 42L;
    assertThat(OrderingKeyValues.normalize(key)).isSameAs(key);
  }
}
