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
 *   <li>{@code share.delivery.count.limit} and {@code share.record.lock.duration.ms}: read, for the
 *       last-delivery rule and the local retry budget.
 * </ul>
 *
 * @param deliveryLimit how many times the broker delivers a record before it archives it
 * @param lockDuration how long one acquisition lasts
 */
record ShareGroupSettings(int deliveryLimit, Duration lockDuration) {
  static final String ISOLATION = "share.isolation.level";
  static final String RESET = "share.auto.offset.reset";
  static final String DELIVERY_LIMIT = "share.delivery.count.limit";
  static final String LOCK_DURATION = "share.record.lock.duration.ms";

  /** Applies idem's settings to the group {@code groupId} and reads the others. */
  static ShareGroupSettings apply(Map<String, Object> adminProperties, String groupId) {
    ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, groupId);
    try (Admin admin = Admin.create(adminProperties)) {
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
      return new ShareGroupSettings(
          intValue(config, DELIVERY_LIMIT, 5),
          Duration.ofMillis(intValue(config, LOCK_DURATION, 30_000)));
    } catch (ExecutionException | TimeoutException e) {
      throw new IdemException(
          "could not read or set share group " + groupId + "'s settings: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IdemException("interrupted while setting share group " + groupId, e);
    }
  }

  private static Config describe(Admin admin, ConfigResource group)
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
