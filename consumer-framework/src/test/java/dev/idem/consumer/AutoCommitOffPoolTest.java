package dev.idem.consumer;

import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The core suites again, on pools with {@code autoCommit=false} (a common HikariCP setting): a
 * statement idem runs outside an explicit transaction on such a connection is rolled back when the
 * pool takes the connection back, so everything idem does must run in one.
 *
 * <p>A few tests of these suites are left out here ({@link #SAME_STATEMENTS_AS_KEPT_TESTS}): they
 * check configuration, meters or Kafka-side behaviour, and the only statements they run on pooled
 * connections are ones that tests kept here run and check in the database too. Their own suites run
 * them on the default pools.
 */
@ExtendWith(AutoCommitOffPoolTest.SkipSettingIndependentTests.class)
class AutoCommitOffPoolTest {

  /** Test method names left out here, each with the kept tests that cover its statements. */
  static final Map<String, String> SAME_STATEMENTS_AS_KEPT_TESTS =
      Map.of(
          "aDeadLetterTopicThatIsMissingHoldsTheRecordUntilItExists",
          "checks the dead-letter topic and the snapshot's counter, not the dead_letters row; the"
              + " dead letter's transaction (lock, row) is checked in the database by the other"
              + " dead-letter tests of Failures and by Misuse",
          "aRecordThatAlwaysFailsIsDeadLetteredToTableAndTopicWhileOtherKeysGoOn",
          "its promises beyond the dead-letter transaction (retry timing, the Kafka watermark"
              + " held at the retrying record) do not touch the pool; the dead-letter row after"
              + " exhausted retries is checked by Misuse and Grouped",
          "theDocumentedMetersExistWithTheirTags",
          "checks the meter catalogue; its one processed and one duplicate record are the"
              + " record path that ExactlyOnce checks in the database",
          "theReplayCommandRefusesBadArguments",
          "argument parsing, no database",
          "theModeIsConfiguredByKeyAndABadValueNamesTheKey",
          "configuration only, no database",
          "moreThanSixtyFourRecordsPerTransactionAreRefusedWithTheKeyAndTheReason",
          "configuration only, no database",
          "groupedTransactionsAreRefusedWithABatchHandlerAndWithParkKey",
          "configuration only, no database");

  @BeforeEach
  void poolsWithoutAutoCommit() {
    IdemTestSupport.poolAutoCommit = false;
  }

  @AfterEach
  void poolsWithAutoCommit() {
    IdemTestSupport.poolAutoCommit = true;
  }

  @Nested
  class ExactlyOnce extends ExactlyOnceProcessingTest {}

  @Nested
  class OffsetsInPostgresql extends OffsetStoreTest {}

  @Nested
  class Batches extends BatchModeTest {}

  @Nested
  class Grouped extends GroupedTransactionTest {}

  @Nested
  class Failures extends FailureHandlingTest {}

  @Nested
  class Misuse extends TransactionMisuseTest {}

  /** Disables the tests of {@link #SAME_STATEMENTS_AS_KEPT_TESTS}, giving the reason. */
  static final class SkipSettingIndependentTests implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
      return context
          .getTestMethod()
          .map(m -> SAME_STATEMENTS_AS_KEPT_TESTS.get(m.getName()))
          .map(
              why -> ConditionEvaluationResult.disabled("not run on auto-commit-off pools: " + why))
          .orElse(ConditionEvaluationResult.enabled("runs on auto-commit-off pools"));
    }
  }
}
