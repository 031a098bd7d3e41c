package dev.idem.consumer.internal.membership;

import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.ConnectionFactory;
import dev.idem.lock.LockException;
import dev.idem.lock.LockKey;
import dev.idem.lock.SessionLock;
import dev.idem.lock.TransactionPoolerException;
import dev.idem.lock.internal.LockSql;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Static membership's guard: at most one live consumer per {@code (group.id, group.instance.id)}.
 *
 * <p>Kafka cannot tell a second live instance with the same id from a restart of a dead one: it
 * hands the newcomer the partitions and fences the other, which then stops. So the id is guarded in
 * PostgreSQL instead: a session advisory lock on {@link LockKey#of(String, String) LockKey.of}
 * {@code ("idem.instance", groupId + "/" + instanceId)}, tried on a dedicated (never pooled)
 * connection at start and held until the consumer closes. PostgreSQL releases it when the process
 * dies (kill -9 included), so a restarted instance takes it again at once.
 */
public final class InstanceIdGuard implements AutoCloseable {
  /** The lock namespace of instance ids. */
  public static final String NAMESPACE = "idem.instance";

  private static final String KEY = "kafka." + ConsumerConfig.GROUP_INSTANCE_ID_CONFIG;
  private static final Logger log = LoggerFactory.getLogger(InstanceIdGuard.class);
  private static final InstanceIdGuard NONE = new InstanceIdGuard(null);

  private final SessionLock lock;

  private InstanceIdGuard(SessionLock lock) {
    this.lock = lock;
  }

  /** The lock key guarding {@code instanceId} in {@code groupId}. */
  public static LockKey key(String groupId, String instanceId) {
    return LockKey.of(NAMESPACE, groupId + "/" + instanceId);
  }

  /**
   * Takes the guard of the consumer's {@code group.instance.id}; a guard holding nothing when the
   * consumer has none (dynamic membership).
   *
   * @param connections dedicated connections, or null when the consumer has none
   * @throws IdemConfigException on {@code kafka.group.instance.id} when another live consumer holds
   *     the id, or when no dedicated connection can hold the guard
   */
  public static InstanceIdGuard acquire(
      IdemConfig config, ConnectionFactory connections, MeterRegistry registry) {
    Object instanceId = config.kafka().get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
    if (instanceId == null) {
      return NONE;
    }
    String groupId = String.valueOf(config.kafka().get(ConsumerConfig.GROUP_ID_CONFIG));
    LockKey key = key(groupId, instanceId.toString());
    if (connections == null) {
      throw new IdemConfigException(
          KEY,
          "static membership needs a dedicated PostgreSQL connection to hold the guard that keeps a"
              + " second live instance from taking '"
              + instanceId
              + "', and the data source is not a HikariCP pool idem can open one like; pass"
              + " lockConnections(ConnectionFactory) to the builder, or remove "
              + KEY);
    }
    Optional<SessionLock> held;
    try {
      held = AdvisoryLocks.builder(connections).meterRegistry(registry).build().tryLockSession(key);
    } catch (TransactionPoolerException e) {
      throw new IdemConfigException(
          KEY,
          "the guard of static membership is a session lock, which a transaction-mode pooler does"
              + " not keep ("
              + e.getMessage()
              + "); give the builder lockConnections(ConnectionFactory) that reach PostgreSQL"
              + " directly, or remove "
              + KEY);
    } catch (LockException e) {
      throw new IdemConfigException(
          KEY,
          "static membership needs a dedicated PostgreSQL connection for its guard, and none could"
              + " be opened ("
              + e.getMessage()
              + "); check the lock connections (and max_connections), or remove "
              + KEY);
    }
    if (held.isEmpty()) {
      throw new IdemConfigException(
          KEY,
          "'"
              + instanceId
              + "' is used by another live consumer of group "
              + groupId
              + " (it holds "
              + key
              + "); give every instance its own kafka.group.instance.id, e.g. from its host name"
              + " and an index, or stop the other one first. If that instance is gone but its"
              + " database session is not (its host failed, so PostgreSQL waits for TCP"
              + " keepalive), end the session: "
              + LockSql.terminateHolderStatement(key));
    }
    log.info(
        "consumer {} is member {} of group {} (static membership, guarded by {} on backend {})",
        config.consumerName(),
        instanceId,
        groupId,
        key,
        held.get().backendPid());
    return new InstanceIdGuard(held.get());
  }

  /**
   * Says clearly why a poll thread that ended with {@code failure} stopped, when it was fenced: the
   * poll loop has already logged the failure itself.
   */
  public static void explainIfFenced(IdemConfig config, Throwable failure) {
    if (failure instanceof FencedInstanceIdException) {
      log.error(
          "consumer {} stopped for good (state FAILED): another member of group {} joined with"
              + " kafka.group.instance.id={} and Kafka gave it this instance's partitions. Give every"
              + " instance its own id; restart this one once the id is its own again",
          config.consumerName(),
          config.kafka().get(ConsumerConfig.GROUP_ID_CONFIG),
          config.kafka().get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG));
    } else {
      log.debug("poll thread of {} ended with {}", config.consumerName(), failure.toString());
    }
  }

  /** Releases the guard (and its connection). Idempotent. */
  @Override
  public void close() {
    if (lock != null) {
      lock.close();
    }
  }
}
