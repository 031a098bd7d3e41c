package dev.idem.consumer.internal.share;

import static dev.idem.consumer.internal.tx.ScriptedAttempts.deadLettered;
import static dev.idem.consumer.internal.tx.ScriptedAttempts.failed;
import static dev.idem.consumer.internal.tx.ScriptedAttempts.processed;
import static dev.idem.consumer.internal.tx.ScriptedAttempts.unreadable;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.RetryPolicy;
import dev.idem.consumer.internal.dispatch.FailurePolicy;
import dev.idem.consumer.internal.metrics.ConsumerMetrics;
import dev.idem.consumer.internal.tx.EventLockTimeout;
import dev.idem.consumer.internal.tx.Outcome;
import dev.idem.consumer.internal.tx.Read;
import dev.idem.consumer.internal.tx.ScriptedAttempts;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.ConnectException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The acknowledgement decisions of {@link ShareRecordTask}, one test per row of its decision table,
 * with scripted attempts ({@link ScriptedAttempts}) instead of transactions, a real {@link
 * FailurePolicy} and real retry policies. Acquisition locks are tens to hundreds of milliseconds,
 * so every run ends quickly; a run is called on the test's thread and returns its acknowledgement.
 *
 * <table>
 *   <caption>What follows an attempt at one delivery of a record</caption>
 *   <tr><th>#</th><th>The attempt ends with</th><th>Delivery</th><th>Then</th></tr>
 *   <tr><td>1</td><td>processed, duplicate, dead-lettered, parked</td><td>any</td>
 *       <td>{@code ACCEPT} at once</td></tr>
 *   <tr><td>2</td><td>a retryable failure (the handler's, the database down, a network failure
 *       while reading) whose backoff fits in the lock's room</td><td>any</td>
 *       <td>retried within the delivery</td></tr>
 *   <tr><td>3</td><td>the same, once the backoff no longer fits</td><td>before the last</td>
 *       <td>{@code RELEASE} while the lock lasts, no dead letter</td></tr>
 *   <tr><td>4</td><td>a retryable handler or read failure whose backoff no longer fits</td>
 *       <td>the last</td><td>dead letter, then {@code ACCEPT}</td></tr>
 *   <tr><td>5</td><td>given up: the policy's attempts used up, a non-retryable failure, an
 *       unreadable record</td><td>any</td><td>dead letter, then {@code ACCEPT}</td></tr>
 *   <tr><td>6</td><td>a dead letter that cannot be written</td><td>before the last</td>
 *       <td>{@code RELEASE}</td></tr>
 *   <tr><td>7</td><td>a dead letter that cannot be written</td><td>the last</td>
 *       <td>kept (answers {@code Later}), the write tried again until written: {@code ACCEPT}
 *       </td></tr>
 *   <tr><td>8</td><td>the database down</td><td>the last</td><td>kept, the attempt tried again
 *       past the lock until the database is back: {@code ACCEPT} once applied, dead letter then
 *       {@code ACCEPT} once given up</td></tr>
 *   <tr><td>9</td><td>anything</td><td>any</td><td>never {@code REJECT}; on the last delivery
 *       never {@code RELEASE}</td></tr>
 *   <tr><td>10</td><td>a release, when the group's limit was lowered since it was read</td>
 *       <td>the new last</td><td>dead letter, then {@code ACCEPT}</td></tr>
 *   <tr><td>11</td><td>a hang the watchdog gave up</td><td>before the last, attempts
 *       left</td><td>{@code RELEASE}; else dead letter {@code handler-timeout}, then {@code
 *       ACCEPT}</td></tr>
 *   <tr><td>12</td><td>anything, in a run the watchdog gave up</td><td>any</td><td>nothing
 *       more: no dead letter, no acknowledgement ({@code Dropped})</td></tr>
 * </table>
 *
 * <p>A run that answers {@code Later} is run on here after its pause, as the poll loop would, up to
 * {@link #MAX_PAUSES} pauses; one still kept then answers null ("kept").
 */
class ShareRecordTaskTest {
  private static final int DELIVERY_LIMIT = 5;
  private static final int MAX_PAUSES = 15;
  private static final int FIRST = 1;
  private static final int LAST = DELIVERY_LIMIT;
  private static final Duration LOCK = Duration.ofMillis(300);
  private static final Duration SHORT_LOCK = Duration.ofMillis(50);
  private static final Duration READ_RETRY_TIMEOUT = Duration.ofSeconds(10);

  /** Many attempts 20 ms apart: a record that keeps failing runs out of lock, not of attempts. */
  private static final RetryPolicy PATIENT =
      new RetryPolicy(100, Duration.ofMillis(20), Duration.ofMillis(20), 1.0, 0.0);

  /** Three attempts 10 ms apart. */
  private static final RetryPolicy THREE_ATTEMPTS = RetryPolicy.fixed(3, Duration.ofMillis(10));

  private static final RuntimeException HANDLER_FAILURE = new IllegalStateException("cannot apply");
  private static final SQLTransientConnectionException DATABASE_DOWN =
      new SQLTransientConnectionException("connection refused", "08001");
  private static final ConnectException REGISTRY_DOWN = new ConnectException("schema registry");

  /** The wait for the event id's lock timed out: a copy of the event holds it elsewhere. */
  private static final SQLException COPY_HOLDS_THE_LOCK =
      EventLockTimeout.whileLocking(
          new SQLException("canceling statement due to lock timeout", "55P03"),
          "event id e",
          Duration.ofMillis(1).toNanos());

  private final ConsumerMetrics metrics = new ConsumerMetrics(new SimpleMeterRegistry(), "c");
  private final AtomicInteger databaseFailed = new AtomicInteger();
  private ScriptedAttempts attempts = new ScriptedAttempts();
  private RetryPolicy retry = PATIENT;
  private int limit = DELIVERY_LIMIT;
  private int freshLimit = DELIVERY_LIMIT;
  private boolean abandoned;
  private Duration elapsed;
  private int pauses;

  // 1

  @ParameterizedTest
  @EnumSource(
      value = Outcome.Kind.class,
      names = {"PROCESSED", "DUPLICATE", "DEAD_LETTERED", "PARKED"})
  void aRecordThatIsDoneIsAcceptedAtOnce(Outcome.Kind kind) {
    attempts.attemptsEndWith(new Outcome(kind, "e", null, null));

    assertThat(run(FIRST, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(run(LAST, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.attempts()).containsExactly(1, 1);
    assertThat(attempts.deadLetters()).isEmpty();
  }

  // 2

  static Stream<Arguments> retryableFailures() {
    return Stream.of(
        Arguments.of("the handler's failure", failed(HANDLER_FAILURE), List.of(1, 2, 3)),
        Arguments.of("the database down", failed(DATABASE_DOWN), List.of(1, 1, 1)),
        Arguments.of(
            "a copy holding the event's lock", failed(COPY_HOLDS_THE_LOCK), List.of(1, 1, 1)),
        Arguments.of(
            "a network failure while reading",
            unreadable(Read.UNDESERIALIZABLE, REGISTRY_DOWN),
            List.of(1, 2, 3)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("retryableFailures")
  void aRetryableFailureIsRetriedWithinTheDeliveryWhileTheLockHasRoomForTheBackoff(
      String what, Outcome failure, List<Integer> attemptNumbers) {
    attempts.attemptsEndWith(failure, failure, processed());

    assertThat(run(FIRST, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    // A lost database uses up no attempt: it is not the record's fault.
    assertThat(attempts.attempts()).isEqualTo(attemptNumbers);
    assertThat(attempts.deadLetters()).isEmpty();
    assertThat(elapsed).isLessThan(LOCK);
  }

  // 3

  @ParameterizedTest(name = "{0}")
  @MethodSource("retryableFailures")
  void aRetryableFailureWhoseBackoffNoLongerFitsTheLockIsReleasedBeforeTheLastDelivery(
      String what, Outcome failure, List<Integer> ignored) {
    attempts.attemptsEndWith(failure);

    assertThat(run(FIRST, LOCK)).isEqualTo(AcknowledgeType.RELEASE);
    assertThat(attempts.attempts()).as("retried while the lock had room").hasSizeGreaterThan(1);
    assertThat(attempts.deadLetters()).isEmpty();
    assertThat(elapsed).as("released while the lock still holds").isLessThan(LOCK);
    assertThat(metrics.retries()).isPositive();
  }

  @Test
  void theDatabaseDownIsReportedAtOnceSoThatThePollLoopStopsAcquiring() {
    attempts.attemptsEndWith(failed(DATABASE_DOWN), processed());

    assertThat(run(FIRST, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(databaseFailed).hasValue(1);
  }

  // 4

  static Stream<Arguments> retryableHandlerAndReadFailures() {
    return Stream.of(
        Arguments.of("the handler's failure", failed(HANDLER_FAILURE), "handler-failed"),
        Arguments.of(
            "a network failure while reading",
            unreadable(Read.UNDESERIALIZABLE, REGISTRY_DOWN),
            Read.UNDESERIALIZABLE));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("retryableHandlerAndReadFailures")
  void onTheLastDeliveryARetryableFailureWhoseBackoffNoLongerFitsIsDeadLetteredThenAccepted(
      String what, Outcome failure, String reason) {
    attempts.attemptsEndWith(failure);

    assertThat(run(LAST, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    int tried = attempts.attempts().size();
    assertThat(tried).as("retried while the lock had room").isGreaterThan(1);
    assertThat(attempts.deadLetters()).containsExactly(reason + " after " + tried + " attempt(s)");
  }

  // 5

  static Stream<Arguments> givenUp() {
    return Stream.of(
        Arguments.of(
            "the policy's attempts used up",
            failed(HANDLER_FAILURE),
            List.of(1, 2, 3),
            "handler-failed after 3 attempt(s)"),
        Arguments.of(
            "a non-retryable failure",
            failed(new NonRetryableException("malformed order")),
            List.of(1),
            "handler-failed after 1 attempt(s)"),
        Arguments.of(
            "a record without an event id",
            unreadable(Read.INVALID_EVENT_ID, new IllegalArgumentException("no event id")),
            List.of(1),
            "invalid-event-id after 1 attempt(s)"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("givenUp")
  void aRecordGivenUpIsDeadLetteredThenAcceptedOnAnyDelivery(
      String what, Outcome failure, List<Integer> attemptNumbers, String deadLetter) {
    retry = THREE_ATTEMPTS;
    attempts.attemptsEndWith(failure);

    assertThat(run(FIRST, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.attempts()).isEqualTo(attemptNumbers);
    assertThat(attempts.deadLetters()).containsExactly(deadLetter);
  }

  // 6

  @Test
  void aDeadLetterThatCannotBeWrittenIsReleasedBeforeTheLastDelivery() {
    attempts
        .attemptsEndWith(failed(new NonRetryableException("malformed order")))
        .deadLettersEndWith(failed(DATABASE_DOWN));

    assertThat(run(FIRST, LOCK)).isEqualTo(AcknowledgeType.RELEASE);
    assertThat(attempts.deadLetters()).hasSize(1);
    assertThat(elapsed).isLessThan(LOCK);
  }

  // 7

  @Test
  void onTheLastDeliveryADeadLetterWrittenOnALaterTryIsAccepted() {
    attempts
        .attemptsEndWith(failed(new NonRetryableException("malformed order")))
        .deadLettersEndWith(failed(DATABASE_DOWN), failed(DATABASE_DOWN), deadLettered());

    assertThat(run(LAST, Duration.ofMillis(100))).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.deadLetters()).hasSize(3);
    assertThat(pauses).as("no worker slept between tries").isEqualTo(2);
  }

  @Test
  void onTheLastDeliveryADeadLetterThatCannotBeWrittenIsKeptPastTheLockAndNeverReleased() {
    Duration lock = Duration.ofMillis(100);
    attempts
        .attemptsEndWith(failed(new NonRetryableException("malformed order")))
        .deadLettersEndWith(failed(DATABASE_DOWN));

    assertThat(run(LAST, lock)).as("kept").isNull();
    assertThat(attempts.deadLetters()).hasSize(MAX_PAUSES + 1);
    assertThat(elapsed).as("tried past the lock").isGreaterThan(lock);
  }

  // 8

  @Test
  void theDatabaseDownOnTheLastDeliveryKeepsTheRecordPastItsLock() {
    attempts.attemptsEndWith(failed(DATABASE_DOWN));

    assertThat(run(LAST, SHORT_LOCK)).as("kept").isNull();
    assertThat(elapsed).as("kept past the lock").isGreaterThan(SHORT_LOCK);
    assertThat(attempts.attempts()).as("tried again").hasSizeGreaterThan(1).containsOnly(1);
    assertThat(attempts.deadLetters()).isEmpty();
    assertThat(databaseFailed.get()).isPositive();
  }

  @Test
  void aCopyHoldingTheEventsLockOnTheLastDeliveryKeepsTheRecordPastItsLockUsingNoAttempt() {
    attempts.attemptsEndWith(failed(COPY_HOLDS_THE_LOCK));

    assertThat(run(LAST, SHORT_LOCK)).as("kept").isNull();
    assertThat(elapsed).as("kept past the lock").isGreaterThan(SHORT_LOCK);
    assertThat(attempts.attempts()).as("tried again").hasSizeGreaterThan(1).containsOnly(1);
    assertThat(attempts.deadLetters()).isEmpty();
    assertThat(databaseFailed.get()).as("the database is fine").isZero();
  }

  @Test
  void theDatabaseBackWhileTheRecordIsHeldOnTheLastDeliveryAppliesAndAcceptsIt() {
    long back = System.nanoTime() + SHORT_LOCK.toNanos() * 9 / 10; // past the lock's room
    attempts.attemptsEndWith(() -> System.nanoTime() < back ? failed(DATABASE_DOWN) : processed());

    assertThat(run(LAST, SHORT_LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.deadLetters()).isEmpty();
  }

  @Test
  void aFailureOnceTheDatabaseIsBackWhileTheRecordIsKeptIsDeadLetteredThenAccepted() {
    long back = System.nanoTime() + SHORT_LOCK.toNanos() * 2; // past the lock
    Outcome notRetryable = failed(new NonRetryableException("malformed order"));
    attempts.attemptsEndWith(() -> System.nanoTime() < back ? failed(DATABASE_DOWN) : notRetryable);

    assertThat(run(LAST, SHORT_LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.deadLetters()).hasSize(1);
  }

  // 9

  static List<Outcome> everyEnding() {
    return List.of(
        processed(),
        failed(HANDLER_FAILURE),
        failed(new NonRetryableException("malformed order")),
        failed(DATABASE_DOWN),
        unreadable(Read.INVALID_EVENT_ID, new IllegalArgumentException("no event id")),
        unreadable(Read.UNDESERIALIZABLE, REGISTRY_DOWN));
  }

  @Test
  void noRecordIsEverRejected() {
    for (Outcome ending : everyEnding()) {
      for (int delivery : List.of(FIRST, LAST)) {
        for (Outcome write : List.of(deadLettered(), failed(DATABASE_DOWN))) {
          attempts = new ScriptedAttempts().attemptsEndWith(ending).deadLettersEndWith(write);
          assertThat(run(delivery, SHORT_LOCK))
              .as("%s on delivery %d, dead letter %s", ending, delivery, write.kind())
              .isNotEqualTo(AcknowledgeType.REJECT);
        }
      }
    }
  }

  @Test
  void onTheLastDeliveryNoRecordIsEverReleased() {
    for (Outcome ending : everyEnding()) {
      for (Outcome write : List.of(deadLettered(), failed(DATABASE_DOWN))) {
        attempts = new ScriptedAttempts().attemptsEndWith(ending).deadLettersEndWith(write);
        assertThat(run(LAST, SHORT_LOCK))
            .as("%s, dead letter %s", ending, write.kind())
            .isNotEqualTo(AcknowledgeType.RELEASE);
      }
    }
  }

  // 10

  @Test
  void aDeliveryLimitLoweredSinceItWasReadTurnsTheReleaseIntoADeadLetter() {
    limit = 5;
    freshLimit = 2;
    attempts.attemptsEndWith(failed(HANDLER_FAILURE));

    assertThat(run(2, LOCK)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.deadLetters()).hasSize(1);
    assertThat(attempts.deadLetters().get(0)).startsWith("handler-failed after ");
  }

  // 11

  @Test
  void aHangGivenUpBeforeTheLastDeliveryIsReleasedWhileThePolicyAllowsAnotherAttempt() {
    assertThat(afterHang(FIRST)).isEqualTo(AcknowledgeType.RELEASE);
    assertThat(attempts.deadLetters()).isEmpty();
    assertThat(metrics.retries()).isPositive();
  }

  @Test
  void aHangGivenUpOnTheLastDeliveryIsDeadLetteredAsHandlerTimeout() {
    assertThat(afterHang(LAST)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.deadLetters()).containsExactly("handler-timeout after 1 attempt(s)");
  }

  @Test
  void aHangGivenUpWithNoAttemptLeftIsDeadLetteredOnAnyDelivery() {
    retry = RetryPolicy.fixed(1, Duration.ofMillis(10));
    assertThat(afterHang(FIRST)).isEqualTo(AcknowledgeType.ACCEPT);
    assertThat(attempts.deadLetters()).containsExactly("handler-timeout after 1 attempt(s)");
  }

  // 12

  @Test
  void aRunTheWatchdogGaveUpWritesNothingAndAnswersNothing() {
    abandoned = true;
    attempts.attemptsEndWith(failed(new NonRetryableException("malformed order")));

    ShareRecordTask.Answer answer =
        task()
            .run(
                record(LAST),
                new ShareRecordTask.Delivery(System.nanoTime(), LOCK),
                () -> abandoned);

    assertThat(answer).isInstanceOf(ShareRecordTask.Dropped.class);
    assertThat(attempts.attempts()).containsExactly(1);
    assertThat(attempts.deadLetters()).isEmpty();
  }

  private ShareRecordTask task() {
    return new ShareRecordTask(
        "c",
        attempts,
        new FailurePolicy(
            retry,
            FailureClassifier.retryAll(),
            READ_RETRY_TIMEOUT,
            attempts::isKeyRace,
            Duration.ofSeconds(30)),
        metrics,
        new ShareMetrics(new SimpleMeterRegistry(), "c"),
        new ShareRecordTask.DeliveryLimit() {
          @Override
          public int limit() {
            return limit;
          }

          @Override
          public int freshLimit() {
            return freshLimit;
          }
        },
        databaseFailed::incrementAndGet);
  }

  private AcknowledgeType afterHang(int delivery) {
    ShareRecordTask.Answer answer = task().afterHang(record(delivery), "e", null, () -> false);
    return settle(answer);
  }

  /**
   * Runs the record's {@code delivery}-th delivery, acquired now for {@code lock}, on through its
   * pauses; null when it is still kept after {@link #MAX_PAUSES} of them.
   */
  private AcknowledgeType run(int delivery, Duration lock) {
    long acquiredAt = System.nanoTime();
    pauses = 0;
    ShareRecordTask.Answer answer =
        task().run(record(delivery), new ShareRecordTask.Delivery(acquiredAt, lock), () -> false);
    AcknowledgeType ack = settle(answer);
    elapsed = Duration.ofNanos(System.nanoTime() - acquiredAt);
    return ack;
  }

  private AcknowledgeType settle(ShareRecordTask.Answer answer) {
    while (answer instanceof ShareRecordTask.Later later) {
      if (pauses == MAX_PAUSES) {
        return null;
      }
      pauses++;
      try {
        Thread.sleep(Math.min(later.pause().toMillis(), 20));
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      answer = later.next().run(() -> false);
    }
    return ((ShareRecordTask.Ack) answer).type();
  }

  private static ConsumerRecord<byte[], byte[]> record(int delivery) {
    return new ConsumerRecord<>(
        "orders",
        0,
        7,
        0L,
        TimestampType.CREATE_TIME,
        1,
        1,
        new byte[1],
        new byte[1],
        new RecordHeaders(),
        Optional.empty(),
        Optional.of((short) delivery));
  }
}
