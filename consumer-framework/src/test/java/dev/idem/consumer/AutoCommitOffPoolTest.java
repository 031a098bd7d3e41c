package dev.idem.consumer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;

/**
 * The core suites again, on pools with {@code autoCommit=false} (a common HikariCP setting): a
 * statement idem runs outside an explicit transaction on such a connection is rolled back when the
 * pool takes the connection back, so everything idem does must run in one.
 */
class AutoCommitOffPoolTest {

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
}
