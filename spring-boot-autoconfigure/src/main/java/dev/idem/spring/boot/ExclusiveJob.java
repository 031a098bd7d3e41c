package dev.idem.spring.boot;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Runs the annotated method on one instance at a time across every instance that shares the
 * database, typically next to {@code @Scheduled}: "only one instance runs the nightly job". The
 * method runs under a PostgreSQL session advisory lock taken with a try-lock on a dedicated
 * connection and held for exactly as long as the method runs: no lease, no time-to-live to guess.
 * An instance that finds the job running elsewhere skips the call at once and returns {@code null}.
 *
 * <pre>{@code
 * @Scheduled(cron = "0 0 2 * * *")
 * @ExclusiveJob(name = "nightly-report", oncePer = "1d")
 * public void nightlyReport() { ... }
 * }</pre>
 *
 * <p>With {@link #oncePer()}, the job also runs at most once per window of that length (aligned to
 * the epoch, UTC), recorded in a table: an instance whose scheduler fires late, after another one
 * finished, skips too. Without it, a late instance may run the job again after the first one
 * finished.
 *
 * <p>The method's class must be a Spring bean (the call goes through its proxy) and the method must
 * return {@code void} or an object type (a skipped call returns {@code null}).
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface ExclusiveJob {

  /** The job's name: the same on every instance. */
  String name();

  /**
   * Run at most once per window of this length ({@code 30s}, {@code 5m}, {@code 1h}, {@code 1d} or
   * ISO-8601); empty (the default) for "never two at once" only.
   */
  String oncePer() default "";
}
