package dev.idem.consumer.internal.share;

import dev.idem.IdemException;
import dev.idem.consumer.IdemConfigException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;

/**
 * The share group's own settings, read and (where the broker's defaults would break the guarantee)
 * set at start through the admin client.
 *
 * <ul>
 *   <li>{@code share.isolation.level}: read_uncommitted by default, which would apply records of
 *       aborted producer transactions; set to read_committed, and a group set to read_uncommitted
 *       on purpose is refused (as {@code kafka.isolation.level} is in the consumer-group mode).
 *   <li>{@code share.auto.offset.reset}: latest by default, which would skip what a new group's
 *       topic already holds; set to earliest unless the group has a value of its own.
 *   <li>{@code share.delivery.count.limit}, {@code share.record.lock.duration.ms} and {@code
 *       share.renew.acknowledge.enable}: read, for the last-delivery rule, the local retry budget
 *       and the renewal of records still in work; read again while the consumer runs ({@link
 *       LiveGroupSettings}).
 * </ul>
 *
 * @param deliveryLimit how many times the broker delivers a record before it archives it
 * @param lockDuration how long one acquisition lasts
 * @param renewals whether the group accepts {@code RENEW} acknowledgements
 */
record ShareGroupSettings(int deliveryLimit, Duration lockDuration, boolean renewals) {
  static final String ISOLATION = "share.isolation.level";
  static final String RESET = "share.auto.offset.reset";
  static final String DELIVERY_LIMIT = "share.delivery.count.limit";
  static final String LOCK_DURATION = "share.record.lock.duration.ms";
  static final String RENEWALS = "share.renew.acknowledge.enable";

  /** Applies idem's settings to the group {@code groupId} and reads the others. */
  static ShareGroupSettings apply(Admin admin, String groupId) {
    ConfigResource group = resource(groupId);
    try {
      Config config = describe(admin, group);
      List<AlterConfigOp> ops = new ArrayList<>();
      ConfigEntry isolation = config.get(ISOLATION);
      if (isolation != null
          && isolation.source() == ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG
          && !"read_committed".equals(isolation.value())) {
        throw new IdemConfigException(
            "kafka.group.id",
            "share group "
                + groupId
                + " has "
                + ISOLATION
                + "="
                + isolation.value()
                + ", which would apply records of aborted producer transactions; set it to"
                + " read_committed (kafka-configs --alter --entity-type groups --entity-name "
                + groupId
                + " --add-config "
                + ISOLATION
                + "=read_committed) or remove it");
      }
      if (isolation == null
          || isolation.source() != ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG) {
        ops.add(set(ISOLATION, "read_committed"));
      }
      ConfigEntry reset = config.get(RESET);
      if (reset == null || reset.source() != ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG) {
        ops.add(set(RESET, "earliest"));
      }
      if (!ops.isEmpty()) {
        admin.incrementalAlterConfigs(Map.of(group, ops)).all().get(30, TimeUnit.SECONDS);
      }
      return of(config);
    } catch (ExecutionException | TimeoutException e) {
      throw new IdemException(
          "could not read or set share group " + groupId + "'s settings: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IdemException("interrupted while setting share group " + groupId, e);
    }
  }

  /**
   * The warning to log at start when the group does not renew locks and one attempt may outlive the
   * share of the record lock that {@link ShareRecordTask} keeps for itself: a record whose attempt
   * runs that long is redelivered while it runs (the copy waits on the event's lock and is skipped,
   * but the delivery is spent). Null when there is nothing to say.
   */
  String timeoutWarning(String groupId, Duration lockTimeout, Duration handlerTimeout) {
    Duration attempt = lockTimeout.plus(handlerTimeout);
    Duration room = lockDuration.multipliedBy(4).dividedBy(5);
    if (renewals || attempt.compareTo(room) <= 0) {
      return null;
    }
    return "share group "
        + groupId
        + " does not renew record locks ("
        + RENEWALS
        + "=false), and consumer.lock-timeout + consumer.handler-timeout = "
        + attempt.toMillis()
        + " ms exceeds 80% of its "
        + LOCK_DURATION
        + "="
        + lockDuration.toMillis()
        + ": a record whose attempt runs that long is delivered again while it runs, spending one"
        + " of its "
        + deliveryLimit
        + " deliveries. Lower the two timeouts, raise the group's lock duration, or set "
        + RENEWALS
        + "=true on the group";
  }

  /** The group's settings in {@code config}, the broker's defaults where it has none. */
  static ShareGroupSettings of(Config config) {
    ConfigEntry renewals = config.get(RENEWALS);
    return new ShareGroupSettings(
        intValue(config, DELIVERY_LIMIT, 5),
        Duration.ofMillis(intValue(config, LOCK_DURATION, 30_000)),
        renewals == null || renewals.value() == null || Boolean.parseBoolean(renewals.value()));
  }

  static ConfigResource resource(String groupId) {
    return new ConfigResource(ConfigResource.Type.GROUP, groupId);
  }

  static Config describe(Admin admin, ConfigResource group)
      throws ExecutionException, InterruptedException, TimeoutException {
    return admin.describeConfigs(List.of(group)).all().get(30, TimeUnit.SECONDS).get(group);
  }

  private static AlterConfigOp set(String name, String value) {
    return new AlterConfigOp(new ConfigEntry(name, value), AlterConfigOp.OpType.SET);
  }

  private static int intValue(Config config, String name, int fallback) {
    ConfigEntry e = config.get(name);
    if (e == null || e.value() == null) {
      return fallback;
    }
    try {
      return Integer.parseInt(e.value().trim());
    } catch (NumberFormatException ex) {
      return fallback;
    }
  }
}
