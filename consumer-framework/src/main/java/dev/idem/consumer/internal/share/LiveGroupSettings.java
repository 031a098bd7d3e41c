package dev.idem.consumer.internal.share;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.config.ConfigResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The share group's settings as the broker has them now. An operator may change them while
 * consumers run ({@code kafka-configs --alter --entity-type groups}): a delivery limit lowered
 * after start would make a consumer that read it once release a record on what is really its last
 * delivery, and the broker would archive it. So the settings are read at start, again in the
 * background when they are older than {@link #REFRESH} (without blocking the caller), and once more
 * before a record is released ({@link #fresh()}, at most one read per {@link #FRESH}).
 *
 * <p>When a read fails, the last settings read stay in force and the failure is logged.
 */
final class LiveGroupSettings implements ShareRecordTask.DeliveryLimit, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(LiveGroupSettings.class);

  /** Settings older than this are read again in the background. */
  static final Duration REFRESH = Duration.ofSeconds(10);

  /** {@link #fresh()} reads the settings again when they are older than this. */
  static final Duration FRESH = Duration.ofSeconds(1);

  private static final Duration READ_TIMEOUT = Duration.ofSeconds(5);

  private record Read(ShareGroupSettings settings, long atNanos) {}

  private final Admin admin;
  private final String groupId;
  private final ConfigResource group;
  private final AtomicBoolean refreshing = new AtomicBoolean();
  private volatile Read last;

  /**
   * @param admin owned from now on: closed by {@link #close()}
   * @param first the settings read (and applied) at start
   */
  LiveGroupSettings(Admin admin, String groupId, ShareGroupSettings first) {
    this.admin = admin;
    this.groupId = groupId;
    this.group = ShareGroupSettings.resource(groupId);
    this.last = new Read(first, System.nanoTime());
  }

  /** The settings last read; starts a background read when they are older than {@link #REFRESH}. */
  ShareGroupSettings current() {
    Read r = last;
    if (System.nanoTime() - r.atNanos() > REFRESH.toNanos()
        && refreshing.compareAndSet(false, true)) {
      admin
          .describeConfigs(List.of(group))
          .all()
          .whenComplete(
              (configs, failure) -> {
                try {
                  if (failure == null) {
                    update(ShareGroupSettings.of(configs.get(group)));
                  } else {
                    log.warn(
                        "reading share group {}'s settings failed; keeping the last ones read: {}",
                        groupId,
                        failure.toString());
                  }
                } finally {
                  refreshing.set(false);
                }
              });
    }
    return r.settings();
  }

  /**
   * The settings read at most {@link #FRESH} ago: reads them now (waiting up to five seconds) when
   * the last read is older. Called on a worker before it releases a record.
   */
  ShareGroupSettings fresh() {
    Read r = last;
    if (System.nanoTime() - r.atNanos() <= FRESH.toNanos()) {
      return r.settings();
    }
    try {
      ShareGroupSettings read =
          ShareGroupSettings.of(
              admin
                  .describeConfigs(List.of(group))
                  .all()
                  .get(READ_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                  .get(group));
      update(read);
      return read;
    } catch (ExecutionException | TimeoutException e) {
      log.warn(
          "reading share group {}'s settings failed; keeping the last ones read: {}",
          groupId,
          e.toString());
      return last.settings();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return last.settings();
    }
  }

  /** The settings may have changed (the broker refused a renewal): read them at the next call. */
  void stale() {
    Read r = last;
    last = new Read(r.settings(), r.atNanos() - REFRESH.toNanos() - 1);
  }

  @Override
  public int limit() {
    return current().deliveryLimit();
  }

  @Override
  public int freshLimit() {
    return fresh().deliveryLimit();
  }

  private void update(ShareGroupSettings read) {
    ShareGroupSettings before = last.settings();
    last = new Read(read, System.nanoTime());
    if (!read.equals(before)) {
      log.info("share group {}'s settings changed: {} (were {})", groupId, read, before);
    }
  }

  @Override
  public void close() {
    admin.close(Duration.ofSeconds(5));
  }
}
