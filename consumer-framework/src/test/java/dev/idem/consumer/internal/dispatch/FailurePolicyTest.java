package dev.idem.consumer.internal.dispatch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.RetryDecision;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.dispatch.FailurePolicy.Action;
import dev.idem.consumer.internal.dispatch.FailurePolicy.Decision;
import dev.idem.consumer.internal.tx.EventLockTimeout;
import dev.idem.consumer.internal.tx.Failures.Kind;
import java.io.IOException;
import java.net.ConnectException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The decision table of {@link FailurePolicy}: what follows a failed attempt, for each kind of
 * failure, with real retry policies and real SQL exceptions carrying their SQLSTATEs.
 */
class FailurePolicyTest {
  private static final Duration READ_RETRY_TIMEOUT = Duration.ofSeconds(1);

  /** How long a record may wait for its event id's lock before a lock timeout uses an attempt. */
  private static final Duration LOCK_WAITS = Duration.ofSeconds(10);

  /** A lock timeout (55P03), as the driver reports it. */
  private static final SQLException LOCK_TIMEOUT =
      new SQLException("canceling statement due to lock timeout", "55P03");

  /** The lock timeout of the statement that takes the event id's lock, after one second. */
  private static final SQLException EVENT_LOCK_TIMEOUT =
      EventLockTimeout.whileLocking(LOCK_TIMEOUT, "event id e", Duration.ofSeconds(1).toNanos());

  /** Three attempts, 100 ms apart. */
  private static final RetryPolicy FIXED = RetryPolicy.fixed(3, Duration.ofMillis(100));

  /**
   * The curve of {@code RetryPolicy.exponential(5, 100 ms, 10 s)}: 100, 200, 400, 800 ms... That
   * factory adds 20% jitter; without it the delays can be asserted exactly.
   */
  private static final RetryPolicy EXPONENTIAL =
      new RetryPolicy(5, Duration.ofMillis(100), Duration.ofSeconds(10), 2.0, 0.0);

  /** The unique violation of the processed-ids key; any other 23505 is not a key race. */
  private static final SQLException KEY_RACE =
      new SQLException("duplicate key value violates the processed mark", "23505");

  private static final RuntimeException USER_FAILURE = new IllegalStateException("cannot apply");

  private final Classifier retrying = new Classifier(RetryDecision.RETRY);
  private final Classifier givingUp = new Classifier(RetryDecision.GIVE_UP);

  // afterFailure: a race on the processed key

  @Test
  void aKeyRaceIsRerunAtOnceUpToTheRerunLimitWithoutUsingAnAttempt() {
    FailurePolicy policy = policy(FIXED, givingUp);
    for (int reruns = 0; reruns < FailurePolicy.MAX_RERUNS; reruns++) {
      assertThat(policy.afterFailure(KEY_RACE, 3, reruns))
          .as("re-run %d on the last attempt", reruns)
          .isEqualTo(new Decision(Action.RERUN, Duration.ZERO, Kind.KEY_RACE));
    }
    assertThat(givingUp.asked).isEmpty();
  }

  // afterFailure: a lock timeout on the event id's lock, held by a copy of the event elsewhere

  @Test
  void aLockTimeoutOnTheEventIdsLockWithinTheAllowanceWaitsWithoutUsingAnAttempt() {
    FailurePolicy policy = policy(EXPONENTIAL, givingUp);
    assertThat((Throwable) EVENT_LOCK_TIMEOUT).isInstanceOf(EventLockTimeout.class);
    assertThat(policy.afterFailure(EVENT_LOCK_TIMEOUT, 5, 0, LOCK_WAITS))
        .as("on the last attempt, with the whole allowance waited")
        .isEqualTo(new Decision(Action.WAIT_FOR_LOCK, policy.outageDelay(5), Kind.LOCK_WAIT));
    assertThat(policy.afterFailure(EVENT_LOCK_TIMEOUT, 1, 0))
        .as("this run's second alone")
        .isEqualTo(new Decision(Action.WAIT_FOR_LOCK, policy.outageDelay(1), Kind.LOCK_WAIT));
    assertThat(givingUp.asked).isEmpty();
  }

  @Test
  void aLockTimeoutOnTheEventIdsLockPastTheAllowanceUsesAnAttemptWhateverTheClassifierSays() {
    Duration past = LOCK_WAITS.plusMillis(1);
    assertThat(policy(FIXED, givingUp).afterFailure(EVENT_LOCK_TIMEOUT, 1, 0, past))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.LOCK_WAIT));
    assertThat(policy(FIXED, givingUp).afterFailure(EVENT_LOCK_TIMEOUT, 3, 0, past))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.LOCK_WAIT));
    assertThat(givingUp.asked).isEmpty();
  }

  @Test
  void aLockTimeoutOfTheHandlersOwnStatementsUsesAnAttempt() {
    assertThat(policy(FIXED, givingUp).afterFailure(LOCK_TIMEOUT, 1, 0, Duration.ZERO))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.TRANSIENT));
    assertThat((Throwable) EventLockTimeout.whileLocking(KEY_RACE, "event id e", 0))
        .isSameAs(KEY_RACE);
  }

  @Test
  void aKeyRacePastTheRerunLimitTakesTheNormalPath() {
    int reruns = FailurePolicy.MAX_RERUNS;
    assertThat(policy(FIXED, retrying).afterFailure(KEY_RACE, 1, reruns))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.KEY_RACE));
    assertThat(policy(FIXED, retrying).afterFailure(KEY_RACE, 3, reruns))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.KEY_RACE));
    assertThat(policy(FIXED, givingUp).afterFailure(KEY_RACE, 1, reruns))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.KEY_RACE));
    assertThat(retrying.asked).containsExactly(KEY_RACE, KEY_RACE);
    assertThat(givingUp.asked).containsExactly(KEY_RACE);
  }

  @Test
  void aUniqueViolationOfAnotherKeyIsTheClassifiersToDecide() {
    SQLException otherKey = new SQLException("duplicate key value violates orders_pkey", "23505");
    assertThat(policy(FIXED, givingUp).afterFailure(otherKey, 1, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
    assertThat(givingUp.asked).containsExactly(otherKey);
  }

  // afterFailure: the database is unreachable

  @ParameterizedTest
  @ValueSource(strings = {"08006", "08001", "57P01", "57P03", "53300"})
  void anUnreachableDatabaseIsWaitedForWithoutUsingAnAttempt(String state) {
    SQLException lost = new SQLException("server unreachable", state);
    FailurePolicy policy = policy(FIXED, givingUp);
    assertThat(policy.afterFailure(lost, 1, 0))
        .isEqualTo(new Decision(Action.WAIT_FOR_DATABASE, Duration.ofMillis(100), Kind.CONNECTION));
    assertThat(policy.afterFailure(lost, 3, 0))
        .as("on the last attempt")
        .isEqualTo(new Decision(Action.WAIT_FOR_DATABASE, Duration.ofMillis(100), Kind.CONNECTION));
    assertThat(givingUp.asked).isEmpty();
  }

  @Test
  void aPoolTimeoutIsWaitedForLikeAnUnreachableDatabase() {
    Throwable timeout =
        new IllegalStateException(new SQLTransientConnectionException("pool timed out"));
    assertThat(policy(FIXED, givingUp).afterFailure(timeout, 3, 0).action())
        .isEqualTo(Action.WAIT_FOR_DATABASE);
  }

  @Test
  void theOutageDelayStartsAtTheOutageFirstStepOfTheBackoffAndGrowsFromThere() {
    FailurePolicy policy = policy(EXPONENTIAL, retrying);
    SQLException lost = new SQLException("terminating connection", "57P01");
    List<Duration> delays = new ArrayList<>();
    for (int attempt = 1; attempt <= 5; attempt++) {
      delays.add(policy.afterFailure(lost, attempt, 0).delay());
    }
    assertThat(EXPONENTIAL.delayAfter(FailurePolicy.OUTAGE_FIRST_STEP))
        .isEqualTo(Duration.ofMillis(400));
    assertThat(delays)
        .containsExactly(
            Duration.ofMillis(400),
            Duration.ofMillis(400),
            Duration.ofMillis(400),
            Duration.ofMillis(800),
            Duration.ofMillis(1600));
    assertThat(policy.outageDelay(1)).isEqualTo(Duration.ofMillis(400));
  }

  // afterFailure: a transient failure of the transaction

  @ParameterizedTest
  @ValueSource(strings = {"40001", "40P01", "55P03", "25P03"})
  void aTransientFailureIsRetriedWhileAttemptsRemainThenGivenUp(String state) {
    SQLException failure = new SQLException("transient", state);
    FailurePolicy policy = policy(EXPONENTIAL, givingUp);
    assertThat(policy.afterFailure(failure, 1, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.TRANSIENT));
    assertThat(policy.afterFailure(failure, 4, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(800), Kind.TRANSIENT));
    assertThat(policy.afterFailure(failure, 5, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.TRANSIENT));
    assertThat(givingUp.asked).as("the classifier is not asked").isEmpty();
  }

  @Test
  void aTransientFailureWrappedByTheHandlerIsStillTransient() {
    Throwable wrapped = new IllegalStateException(new SQLException("deadlock detected", "40P01"));
    assertThat(policy(FIXED, givingUp).afterFailure(wrapped, 1, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.TRANSIENT));
  }

  // afterFailure: the handler's own failures

  @Test
  void aNonRetryableExceptionIsGivenUpAtOnce() {
    NonRetryableException never = new NonRetryableException("unknown event type");
    assertThat(policy(FIXED, retrying).afterFailure(never, 1, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
    assertThat(retrying.asked).as("the classifier is not asked").isEmpty();
  }

  @Test
  void aFailureTheClassifierGivesUpOnIsGivenUpAtOnce() {
    assertThat(policy(FIXED, givingUp).afterFailure(USER_FAILURE, 1, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
    assertThat(givingUp.asked).containsExactly(USER_FAILURE);
  }

  @Test
  void aFailureTheClassifierRetriesIsRetriedWhileAttemptsRemainThenGivenUp() {
    FailurePolicy policy = policy(EXPONENTIAL, retrying);
    assertThat(policy.afterFailure(USER_FAILURE, 1, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterFailure(USER_FAILURE, 2, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(200), Kind.USER));
    assertThat(policy.afterFailure(USER_FAILURE, 5, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void aClassifierThatReturnsNullCountsAsRetry() {
    FailurePolicy policy = policy(FIXED, failure -> null);
    assertThat(policy.afterFailure(USER_FAILURE, 1, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterFailure(USER_FAILURE, 3, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void aClassifierThatThrowsCountsAsRetry() {
    FailureClassifier broken =
        failure -> {
          throw new IllegalArgumentException("classifier bug");
        };
    FailurePolicy policy = policy(FIXED, broken);
    assertThat(policy.afterFailure(USER_FAILURE, 1, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterFailure(USER_FAILURE, 3, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void theDefaultClassifierRetriesEveryFailureWhileAttemptsRemain() {
    FailurePolicy policy = policy(FIXED, FailureClassifier.retryAll());
    assertThat(policy.afterFailure(USER_FAILURE, 2, 0))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterFailure(USER_FAILURE, 3, 0))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  // afterHang

  @Test
  void aHungAttemptIsRetriedWhileAttemptsRemainThenGivenUpWithoutAskingTheClassifier() {
    FailurePolicy policy = policy(EXPONENTIAL, givingUp);
    assertThat(policy.afterHang(1))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.TRANSIENT));
    assertThat(policy.afterHang(3))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(400), Kind.TRANSIENT));
    assertThat(policy.afterHang(5))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.TRANSIENT));
    assertThat(givingUp.asked).isEmpty();
  }

  // afterReadFailure

  @Test
  void aReadFailureTheClassifierRetriesIsRetriedWhileTheNextRunFallsWithinTheReadRetryTimeout() {
    FailurePolicy policy = policy(FIXED, readDecision(RetryDecision.RETRY));
    Throwable unreadable = new IllegalArgumentException("not json");
    assertThat(policy.afterReadFailure(unreadable, 1, Duration.ZERO))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterReadFailure(unreadable, 2, Duration.ofMillis(899)))
        .as("the next run 999 ms after the first failure")
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterReadFailure(unreadable, 3, Duration.ofMillis(900)))
        .as("the next run at the read retry timeout")
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
    assertThat(policy.afterReadFailure(unreadable, 4, Duration.ofSeconds(5)))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void readRetriesAreBoundedByTheReadRetryTimeoutNotByTheAttempts() {
    FailurePolicy policy = policy(FIXED, readDecision(RetryDecision.RETRY));
    assertThat(policy.afterReadFailure(registryDown(), 50, Duration.ofMillis(500)))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
  }

  @Test
  void theDelayBetweenReadsFollowsTheBackoffOfTheReadAttempt() {
    FailurePolicy policy = policy(EXPONENTIAL, readDecision(RetryDecision.RETRY));
    assertThat(policy.afterReadFailure(registryDown(), 3, Duration.ZERO))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(400), Kind.USER));
    assertThat(policy.afterReadFailure(registryDown(), 4, Duration.ofMillis(200)))
        .as("200 ms + 800 ms reaches the read retry timeout")
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void aReadFailureTheClassifierGivesUpOnIsGivenUpAtOnce() {
    FailurePolicy policy = policy(FIXED, readDecision(RetryDecision.GIVE_UP));
    assertThat(policy.afterReadFailure(registryDown(), 1, Duration.ZERO))
        .as("even a network failure")
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void byDefaultANetworkFailureIsReadAgainAndMalformedInputIsGivenUp() {
    FailurePolicy policy = policy(FIXED, FailureClassifier.retryAll());
    assertThat(policy.afterReadFailure(registryDown(), 1, Duration.ZERO))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(
            policy.afterReadFailure(new IOException("unexpected end of input"), 1, Duration.ZERO))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  @Test
  void aReadClassifierThatReturnsNullGetsTheDefaultDecision() {
    FailurePolicy policy = policy(FIXED, readDecision(null));
    assertThat(policy.afterReadFailure(registryDown(), 1, Duration.ZERO).action())
        .isEqualTo(Action.RETRY);
    assertThat(policy.afterReadFailure(new IOException("malformed"), 1, Duration.ZERO).action())
        .isEqualTo(Action.GIVE_UP);
  }

  @Test
  void aReadClassifierThatThrowsGetsTheDefaultDecision() {
    FailureClassifier broken =
        new FailureClassifier() {
          @Override
          public RetryDecision classify(Throwable failure) {
            return RetryDecision.RETRY;
          }

          @Override
          public RetryDecision classifyReadFailure(Throwable failure) {
            throw new IllegalStateException("classifier bug");
          }
        };
    FailurePolicy policy = policy(FIXED, broken);
    assertThat(policy.afterReadFailure(registryDown(), 1, Duration.ZERO))
        .isEqualTo(new Decision(Action.RETRY, Duration.ofMillis(100), Kind.USER));
    assertThat(policy.afterReadFailure(new IOException("malformed"), 1, Duration.ZERO))
        .isEqualTo(new Decision(Action.GIVE_UP, Duration.ZERO, Kind.USER));
  }

  private static FailurePolicy policy(RetryPolicy retry, FailureClassifier classifier) {
    return new FailurePolicy(retry, classifier, READ_RETRY_TIMEOUT, KEY_RACE::equals, LOCK_WAITS);
  }

  /** A schema registry that refused the connection: a network failure. */
  private static Throwable registryDown() {
    return new IllegalStateException(
        "schema registry unavailable", new ConnectException("Connection refused"));
  }

  /** A classifier that decides {@code decision} on every read failure. */
  private static FailureClassifier readDecision(RetryDecision decision) {
    return new FailureClassifier() {
      @Override
      public RetryDecision classify(Throwable failure) {
        return RetryDecision.RETRY;
      }

      @Override
      public RetryDecision classifyReadFailure(Throwable failure) {
        return decision;
      }
    };
  }

  /** Decides {@code decision} on every handler failure, and records the failures it was asked. */
  private static final class Classifier implements FailureClassifier {
    private final RetryDecision decision;
    final List<Throwable> asked = new ArrayList<>();

    Classifier(RetryDecision decision) {
      this.decision = decision;
    }

    @Override
    public RetryDecision classify(Throwable failure) {
      asked.add(failure);
      return decision;
    }
  }
}
