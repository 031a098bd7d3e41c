package dev.idem.example.payments;

import dev.idem.spring.boot.ExclusiveJob;
import java.time.LocalDate;
import java.time.ZoneOffset;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * The nightly totals: every instance schedules it, one runs it (at most once a day), the others
 * skip at once.
 */
@Component
public class DailyTotals {
  private final JdbcTemplate jdbc;

  DailyTotals(JdbcTemplate jdbc) {
    this.jdbc = jdbc;
  }

  /** Records yesterday's count of ledger entries; returns the rows written. */
  @Scheduled(cron = "${payments.totals-cron:0 5 0 * * *}", zone = "UTC")
  @ExclusiveJob(name = "payments-daily-totals", oncePer = "1d")
  public Integer record() {
    LocalDate day = LocalDate.now(ZoneOffset.UTC).minusDays(1);
    return jdbc.update(
        "INSERT INTO daily_totals (day, entries) SELECT ?, count(*) FROM ledger_entries"
            + " ON CONFLICT (day) DO NOTHING",
        day);
  }
}
