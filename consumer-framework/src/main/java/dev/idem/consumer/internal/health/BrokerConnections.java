package dev.idem.consumer.internal.health;

import java.util.Map;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/**
 * Whether a Kafka client (a consumer or a share consumer) is connected to a broker, from the
 * client's own {@code consumer-metrics} {@code connection-count} gauge: its open broker
 * connections. Read by the poll thread when it publishes a snapshot, so no other thread touches the
 * client.
 *
 * <p>Why this gauge: measured against a real broker stopped and started again (classic and {@code
 * group.protocol=consumer} alike), it fell from 3 to 0 within 0.1 s of the broker going away and
 * was back above 0 at the first poll after the broker listened again. {@code
 * consumer-coordinator-metrics} {@code last-heartbeat-seconds-ago} only climbs by one a second
 * during an outage, swings between 0 and the heartbeat interval in normal operation, and reads -1
 * before the first heartbeat (classic protocol), so it needs a threshold above the heartbeat
 * interval and says nothing before the group is joined.
 *
 * <p>What it cannot see: a broker that keeps accepting connections but does not answer (the count
 * stays up until the client's {@code request.timeout.ms} closes them). With several brokers, one
 * connection is enough to count as reachable.
 */
public final class BrokerConnections {
  private static final String GROUP = "consumer-metrics";
  private static final String NAME = "connection-count";

  /** The gauge, once found: the client registers it when it is created and keeps it. */
  private Metric connectionCount;

  /**
   * Whether the client whose metrics are {@code metrics} has at least one open broker connection
   * now. True for a client that does not report the gauge: no signal is no verdict, and a consumer
   * must not stay not ready for good because of its client.
   */
  public boolean reachable(Map<MetricName, ? extends Metric> metrics) {
    if (connectionCount == null) {
      connectionCount = find(metrics);
      if (connectionCount == null) {
        return true;
      }
    }
    Object value = connectionCount.metricValue();
    return !(value instanceof Number n) || n.doubleValue() > 0;
  }

  private static Metric find(Map<MetricName, ? extends Metric> metrics) {
    for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
      if (GROUP.equals(e.getKey().group()) && NAME.equals(e.getKey().name())) {
        return e.getValue();
      }
    }
    return null;
  }
}
