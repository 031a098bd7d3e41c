package dev.idem.consumer.internal.tx;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FailuresTest {

  @ParameterizedTest
  @ValueSource(
      strings = {
        "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "25P03", "08006", "08001",
        "08003"
      })
  void transientSqlStatesAreRetried(String state) {
    assertThat(Failures.isTransient(new SQLException("x", state))).isTrue();
    assertThat(Failures.isTransient(new RuntimeException(new SQLException("x", state)))).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {"23505", "23503", "42P01", "22P02", "57014"})
  void otherSqlStatesAreNotTransient(String state) {
    assertThat(Failures.isTransient(new SQLException("x", state))).isFalse();
  }

  @Test
  void aPoolTimeoutWithoutSqlStateIsTransient() {
    assertThat(Failures.isTransient(new SQLTransientConnectionException("pool timed out")))
        .isTrue();
  }

  @Test
  void plainExceptionsAreNotTransient() {
    assertThat(Failures.isTransient(new IllegalStateException("boom"))).isFalse();
    assertThat(Failures.isTransient(null)).isFalse();
  }

  @Test
  void outOfMemoryIsFatalButAStackOverflowIsNot() {
    assertThat(Failures.isFatal(new OutOfMemoryError())).isTrue();
    assertThat(Failures.isFatal(new StackOverflowError())).isFalse();
    assertThat(Failures.isFatal(new AssertionError())).isFalse();
  }
}
