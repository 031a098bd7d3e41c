package dev.idem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.stream.DoubleStream;
import org.junit.jupiter.api.Test;

/** The reductions of a scenario's runs to one row (pure arithmetic). */
class ReportTest {

  @Test
  void theMedianOfAnOddCountIsTheMiddleRun() {
    assertThat(Report.median(DoubleStream.of(30, 10, 20))).isEqualTo(20);
  }

  @Test
  void theMedianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
    assertThat(Report.median(DoubleStream.of(40, 10, 20, 30))).isEqualTo(25);
  }

  @Test
  void theSpreadIsHalfTheRangeAsAPercentageOfTheMedian() {
    assertThat(Report.spreadPercent(new double[] {90, 100, 110})).isCloseTo(10, within(1e-9));
  }

  @Test
  void percentilesAreNearestRank() {
    long[] sorted = new long[1000];
    for (int i = 0; i < sorted.length; i++) {
      sorted[i] = i + 1;
    }
    assertThat(LatencyProbe.percentile(sorted, 0.50)).isEqualTo(500);
    assertThat(LatencyProbe.percentile(sorted, 0.99)).isEqualTo(990);
    assertThat(LatencyProbe.percentile(sorted, 0.999)).isEqualTo(999);
    assertThat(LatencyProbe.percentile(new long[] {7}, 0.999)).isEqualTo(7);
  }
}
