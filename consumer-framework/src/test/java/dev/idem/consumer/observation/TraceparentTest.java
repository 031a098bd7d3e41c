package dev.idem.consumer.observation;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TraceparentTest {
  private static final String VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  @Test
  void parsesAndFormatsAW3cValue() {
    Traceparent t = Traceparent.parse(VALID);
    assertThat(t.traceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
    assertThat(t.spanId()).isEqualTo("00f067aa0ba902b7");
    assertThat(t.sampled()).isTrue();
    assertThat(t).hasToString(VALID);
    assertThat(Traceparent.parse(VALID.replace("-01", "-00")).sampled()).isFalse();
    assertThat(Traceparent.parse(" " + VALID.toUpperCase() + " ")).isEqualTo(t);
    assertThat(Traceparent.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"))
        .as("a later version may add fields")
        .isNotNull();
  }

  @Test
  void refusesWhatIsNotOne() {
    assertThat(Traceparent.parse(null)).isNull();
    assertThat(Traceparent.parse("")).isNull();
    assertThat(Traceparent.parse(VALID + "-extra")).as("version 00 has four fields").isNull();
    assertThat(Traceparent.parse(VALID.replace("00-4bf", "ff-4bf"))).isNull();
    assertThat(Traceparent.parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"))
        .isNull();
    assertThat(Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"))
        .isNull();
    assertThat(Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"))
        .isNull();
    assertThat(Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"))
        .isNull();
  }
}
