package dev.idem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.idem.testkit.TestInfrastructure;
import org.junit.jupiter.api.Test;

/** A tiny run of the whole harness; the real benchmark stays out of the test suite. */
class BenchmarkSmokeTest {

  @Test
  void everyScenarioRunsInItsOwnJvmAndLeavesAnExactLedger() throws Exception {
    TestInfrastructure infra = TestInfrastructure.shared();
    BenchmarkMain.Options o =
        BenchmarkMain.Options.parse(
            new String[] {
              "--events",
              "2000",
              "--batch",
              "100",
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
    BenchmarkMain.Report report = BenchmarkMain.run(o);
    assertThat(report.scenarios()).containsExactlyElementsOf(BenchmarkMain.SCENARIOS);
    assertThat(report.allVerified()).as(report.text()).isTrue();
    for (String scenario : BenchmarkMain.SCENARIOS) {
      assertThat(report.rate(scenario)).as(scenario).isPositive();
    }
    assertThat(report.text()).contains("idem-batch").contains("exact (1600 rows)");
  }

  @Test
  void unknownOptionsAreRefused() {
    assertThatThrownBy(() -> BenchmarkMain.Options.parse(new String[] {"--fast"}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown option --fast");
  }
}
