package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

class EventIdsTest {

  private static ConsumerRecord<byte[], byte[]> record(byte[] key, byte[]... webhookIds) {
    ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>("t", 2, 7L, key, new byte[0]);
    for (byte[] id : webhookIds) {
      r.headers().add("webhook-id", id);
    }
    return r;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void headerIdsThatAreNotUtf8AreRefusedInsteadOfCollapsingIntoOneText() {
    // 0xff and 0xfe used to both decode to U+FFFD: two events, one id, one of them skipped.
    EventIdExtractor ids = EventIds.header("webhook-id");
    for (byte bad : new byte[] {(byte) 0xff, (byte) 0xfe, (byte) 0x80}) {
      assertThatThrownBy(() -> ids.eventId(record(null, new byte[] {'a', bad})))
          .isInstanceOf(InvalidEventIdException.class)
          .hasMessageContaining("header webhook-id is not valid UTF-8")
          .hasMessageContaining("t-2@7");
    }
    assertThatThrownBy(() -> EventIds.recordKey().eventId(record(new byte[] {(byte) 0xc3})))
        .isInstanceOf(InvalidEventIdException.class)
        .hasMessageContaining("the record key is not valid UTF-8");
  }

  @Test
  void aHeaderRepeatedWithDifferentValuesIsRefusedAndWithTheSameValueAccepted() throws Exception {
    EventIdExtractor ids = EventIds.header("webhook-id");
    assertThatThrownBy(() -> ids.eventId(record(null, utf8("a"), utf8("b"))))
        .isInstanceOf(InvalidEventIdException.class)
        .hasMessageContaining("appears more than once with different values");
    assertThatThrownBy(() -> ids.eventId(record(null, utf8("a"), null)))
        .isInstanceOf(InvalidEventIdException.class);
    assertThat(ids.eventId(record(null, utf8("\u00e9v-1"), utf8("\u00e9v-1"))))
        .isEqualTo("\u00e9v-1");
    assertThat(ids.eventId(record(null))).isNull();
    assertThat(EventIds.recordKey().eventId(record(utf8("k\u20ac")))).isEqualTo("k\u20ac");
  }
}
