package dev.idem.consumer.internal.dispatch;

import java.util.List;
import java.util.function.Function;

/**
 * What a {@link Dispatcher} hands its lanes' groups to: {@link #apply} runs a group once and
 * returns done (for the whole group) or a retry delay.
 */
public interface GroupRunner extends Function<List<Work>, Step> {

  /**
   * The watchdog abandoned a run of {@code group} (the lane's copies of its records): decides what
   * the lane does next, as after a failed attempt. Called under the dispatcher's lock on the
   * watchdog's thread, so it must not block, run user code or touch the database; a record out of
   * attempts is dead-lettered on its next run.
   */
  Step abandoned(List<Work> group, HungAttemptException failure);
}
