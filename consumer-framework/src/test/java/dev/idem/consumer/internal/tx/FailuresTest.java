package dev.idem.consumer.internal.tx;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FailuresTest {

  @ParameterizedTest
  @ValueSource(strings = {"40001", "40P01", "55P03", "25P03"})
  void transientSqlStatesOfOneTransactionAreTransient(String state) {
    assertThat(Failures.classify(new SQLException("x", state))).isEqualTo(Failures.Kind.TRANSIENT);
    assertThat(Failures.classify(new RuntimeException(new SQLException("x", state))))
        .isEqualTo(Failures.Kind.TRANSIENT);
  }

  @ParameterizedTest
  @ValueSource(strings = {"57P01", "57P02", "57P03", "53300", "08006", "08001", "08003"})
  void anUnreachableDatabaseIsAConnectionFailure(String state) {
    assertThat(Failures.classify(new SQLException("x", state))).isEqualTo(Failures.Kind.CONNECTION);
    assertThat(Failures.classify(new RuntimeException(new SQLException("x", state))))
        .isEqualTo(Failures.Kind.CONNECTION);
  }

  @ParameterizedTest
  @ValueSource(strings = {"23505", "23503", "42P01", "22P02", "57014", "25000"})
  void otherSqlStatesAreTheUsersToDecide(String state) {
    assertThat(Failures.classify(new SQLException("x", state))).isEqualTo(Failures.Kind.USER);
  }

  @Test
  void aUniqueViolationOfTheProcessedKeyIsAKeyRace() {
    SQLException violation = new SQLException("duplicate key", "23505");
    assertThat(Failures.classify(violation, e -> e == violation)).isEqualTo(Failures.Kind.KEY_RACE);
    assertThat(Failures.classify(new RuntimeException(violation), e -> e == violation))
        .isEqualTo(Failures.Kind.KEY_RACE);
    assertThat(Failures.classify(violation, e -> false)).isEqualTo(Failures.Kind.USER);
  }

  @Test
  void aChainedSqlExceptionCounts() {
    SQLException batch = new SQLException("batch failed", "XX000");
    batch.setNextException(new SQLException("deadlock", "40P01"));
    assertThat(Failures.classify(batch)).isEqualTo(Failures.Kind.TRANSIENT);
  }

  @Test
  void aPoolTimeoutWithoutSqlStateIsAConnectionFailure() {
    assertThat(Failures.classify(new SQLTransientConnectionException("pool timed out")))
        .isEqualTo(Failures.Kind.CONNECTION);
  }

  @Test
  void plainExceptionsAreTheUsersToDecide() {
    assertThat(Failures.classify(new IllegalStateException("boom"))).isEqualTo(Failures.Kind.USER);
    assertThat(Failures.classify(null)).isEqualTo(Failures.Kind.USER);
  }

  @Test
  void outOfMemoryIsFatalButAStackOverflowIsNot() {
    assertThat(Failures.isFatal(new OutOfMemoryError())).isTrue();
    assertThat(Failures.classify(new OutOfMemoryError())).isEqualTo(Failures.Kind.FATAL);
    assertThat(Failures.isFatal(new StackOverflowError())).isFalse();
    assertThat(Failures.isFatal(new AssertionError())).isFalse();
  }
}
