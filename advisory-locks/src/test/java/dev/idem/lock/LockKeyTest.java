package dev.idem.lock;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LockKeyTest {

  /** The published version-1 vectors (also in LockKey's Javadoc). Never change them. */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "''|''|-2360060374177730597",
        "payments|evt_1|6121237337138513139",
        "ledger-writer|msg_p5jXN8AQM9LWM0D4loKWxJek|-7307530248418197489",
        "ünï|€|-1311595156362243925"
      })
  void versionOneKeysMatchThePublishedVectors(String namespace, String name, long expected) {
    assertThat(LockKey.hash(namespace, name)).isEqualTo(expected);
    assertThat(LockKey.of(namespace, name).value()).isEqualTo(expected);
    assertThat(LockKey.VERSION).isEqualTo(1);
  }

  @Test
  void pairKeysUseTheNamespaceHashAndTheId() {
    LockKey key = LockKey.of("cache", 500);
    assertThat(LockKey.namespaceHash("cache")).isEqualTo(924211174);
    assertThat(key.classId()).isEqualTo(924211174);
    assertThat(key.objectId()).isEqualTo(500);
    assertThat(key.objectSubId()).isEqualTo(2);
    assertThat(key.form()).isEqualTo(LockKey.Form.INT_PAIR);
    assertThat(key.toString()).isEqualTo("LockKey[cache/500 = (924211174, 500)]");
    assertThat(LockKey.of("cache", 500)).isEqualTo(key).hasSameHashCodeAs(key);
    assertThat(LockKey.of("cache", 501)).isNotEqualTo(key);
  }

  @Test
  void bigintKeysSplitIntoTheWordsPgLocksShows() {
    LockKey key = LockKey.of("payments", "evt_1");
    assertThat(((long) key.classId() << 32) | (key.objectId() & 0xFFFFFFFFL))
        .isEqualTo(key.value());
    assertThat(key.objectSubId()).isEqualTo(1);
  }

  @Test
  void theLengthPrefixKeepsNamespaceAndNameApart() {
    assertThat(LockKey.hash("ab", "c")).isNotEqualTo(LockKey.hash("a", "bc"));
    assertThat(LockKey.hash("", "abc")).isNotEqualTo(LockKey.hash("abc", ""));
  }

  @Test
  void theSameNameInTwoNamespacesGetsDifferentKeys() {
    assertThat(LockKey.hash("consumer-a", "evt-1"))
        .isNotEqualTo(LockKey.hash("consumer-b", "evt-1"));
  }

  @Test
  void keysPrintTheirNamespaceNameAndValue() {
    assertThat(LockKey.of("payments", "evt_1").toString())
        .isEqualTo("LockKey[payments/evt_1 = 6121237337138513139]");
  }
}
