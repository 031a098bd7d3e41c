package dev.idem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.idem.testkit.TestInfrastructure;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A tiny run of the whole harness, a correctness test only (no figure is asserted but positive):
 * the real benchmark stays out of the test suite.
 */
class BenchmarkSmokeTest {

  /**
   * Every scenario but six: idem-record-query-check, idem-batch-traced, idem-batch-outbox and
   * webhook-grouped run the same harness code as idem-record, idem-record-traced,
   * idem-record-outbox and webhook-record with another mode constant, share-2 and share-4 the code
   * of share-1 with more instances, and each child JVM costs about 3 s.
   */
  private static final List<String> SMOKE =
      BenchmarkMain.SCENARIOS.stream()
          .filter(
              s ->
                  !s.equals("idem-record-query-check")
                      && !s.equals("idem-batch-traced")
                      && !s.equals("idem-batch-outbox")
                      && !s.equals("webhook-grouped")
                      && !s.equals("share-2")
                      && !s.equals("share-4"))
          .toList();

  @Test
  void eachKindOfScenarioRunsInItsOwnJvmAndLeavesAnExactLedger() throws Exception {
    TestInfrastructure infra = TestInfrastructure.shared();
    Options o =
        Options.parse(
            new String[] {
              "--scenarios",
              String.join(",", SMOKE),
              "--events",
              "1000",
              "--batch",
              "100",
              "--runs",
              "1",
              "--skip-latency",
              "--no-docs",
              "--bootstrap",
              infra.kafka().bootstrapServers(),
              "--pg-url",
              infra.postgres().jdbcUrl(),
              "--pg-user",
              infra.postgres().user(),
              "--pg-password",
              infra.postgres().password()
            });
    Report report = BenchmarkMain.run(o);
    assertThat(report.scenarios()).containsExactlyElementsOf(SMOKE);
    assertThat(report.allVerified()).as(report.text()).isTrue();
    for (String scenario : SMOKE) {
      assertThat(report.rate(scenario)).as(scenario).isPositive();
    }
    assertThat(report.text())
        .contains("exact (800 rows)")
        .contains("exact (800 entries, " + WebhookWorkload.ACCOUNTS + " balances)");
  }

  @Test
  void unknownOptionsAreRefused() {
    assertThatThrownBy(() -> Options.parse(new String[] {"--fast"}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown option --fast");
  }

  @Test
  void chosenScenariosRunInTableOrderWithNaiveAndJdbcAdded() {
    Options o = Options.parse(new String[] {"--scenarios", "webhook-batch,idem-batch"});
    assertThat(o.scenarios()).containsExactly("naive", "idem-batch", "webhook-batch", "jdbc");
  }

  @Test
  void unknownScenarioNamesAreRefusedWithTheKnownOnes() {
    assertThatThrownBy(() -> Options.parse(new String[] {"--scenarios", "idem-batch,idem-fast"}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "unknown scenario idem-fast in --scenarios; known: "
                + String.join(", ", BenchmarkMain.SCENARIOS));
  }
}
