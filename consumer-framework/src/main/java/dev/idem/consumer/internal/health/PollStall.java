package dev.idem.consumer.internal.health;

import dev.idem.consumer.IdemConfig;
import java.time.Duration;

/**
 * How long a running consumer's poll thread may go without publishing a snapshot before it counts
 * as dead (not live).
 *
 * <p>The poll thread publishes after every poll, during outages of the broker or the database too:
 * {@code poll} returns within {@code consumer.poll-timeout} whether or not a broker answers
 * (measured: 100 ms polls throughout a broker outage), and the thread waits for the database only
 * with a deadline. Its longest legitimate silences are such bounded waits inside one loop: a revoke
 * waits up to {@code consumer.drain-timeout} for in-flight records, then up to 5 s for the done
 * offsets to reach PostgreSQL (offsets kept there) and up to 10 s for the synchronous commit;
 * reading the committed offsets of newly assigned partitions waits up to 5 s; the poll itself and
 * the wait for in-flight records under backpressure take a poll timeout each. So the bound is
 * {@code consumer.drain-timeout + 10 x consumer.poll-timeout + 30 s}: the 20 s of fixed waits, ten
 * poll timeouts where one loop needs two, and 10 s for a starved CPU or a long GC pause (41 s with
 * the defaults, where a healthy loop publishes every 100 ms).
 *
 * <p>Not {@code kafka.max.poll.interval.ms} (5 minutes by default): that is when the group gives up
 * on this member; a loop silent for a fraction of it is already far outside anything idem waits
 * for, and its partitions sit idle meanwhile.
 */
public final class PollStall {
  private static final Duration FIXED_WAITS_AND_SLACK = Duration.ofSeconds(30);
  private static final int POLL_TIMEOUTS = 10;

  private PollStall() {}

  /** The silence after which a running consumer's poll loop counts as stalled. */
  public static Duration timeout(IdemConfig config) {
    return config
        .drainTimeout()
        .plus(config.pollTimeout().multipliedBy(POLL_TIMEOUTS))
        .plus(FIXED_WAITS_AND_SLACK);
  }
}
