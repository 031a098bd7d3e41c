package dev.idem.chaos;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;

/**
 * Reads what a run left behind, from PostgreSQL and Kafka only (never from logs), and measures it
 * against the workload: which events were applied how often and in which order, which were
 * dead-lettered, which locks and sessions remain, and where the committed positions stand.
 */
final class Invariants {
  private static final int SAMPLE = 10;

  private final DataSource database;
  private final String bootstrapServers;
  private final String consumerName;
  private final String applicationName;
  private final List<TopicPartition> partitions;
  private final boolean offsetsInPostgresql;
  private final boolean share;

  /** What the ledger and the dead letters say about the workload's events. */
  record Effects(
      long rows,
      int applied,
      int lost,
      int doubled,
      int unexpected,
      int reorderedGroups,
      int deadLettered,
      int poisonDeadLettered,
      int strayDeadLetters,
      List<String> samples) {}

  /**
   * @param database direct connections to the database (not through the proxy)
   * @param bootstrapServers the broker
   * @param consumerName the consumer name (and group id) of the run
   * @param applicationName the {@code application_name} of the consumers' sessions
   * @param partitions every partition the consumers read
   * @param offsetsInPostgresql whether the consumers store offsets in PostgreSQL too
   * @param share whether the consumers form a share group: no order to check, and a partition's
   *     position is its end offset less the group's lag
   */
  Invariants(
      DataSource database,
      String bootstrapServers,
      String consumerName,
      String applicationName,
      List<TopicPartition> partitions,
      boolean offsetsInPostgresql,
      boolean share) {
    this.database = database;
    this.bootstrapServers = bootstrapServers;
    this.consumerName = consumerName;
    this.applicationName = applicationName;
    this.partitions = List.copyOf(partitions);
    this.offsetsInPostgresql = offsetsInPostgresql;
    this.share = share;
  }

  /** Compares the ledger and the dead letters with the workload. */
  Effects effects(Workload workload) throws SQLException {
    Map<String, Integer> rowsPerEvent = new HashMap<>();
    long rows = 0;
    List<String> samples = new ArrayList<>();
    try (Connection c = database.getConnection();
        Statement s = c.createStatement()) {
      try (ResultSet rs =
          s.executeQuery("SELECT event_id, count(*) FROM " + Ledger.TABLE + " GROUP BY event_id")) {
        while (rs.next()) {
          rowsPerEvent.put(rs.getString(1), rs.getInt(2));
          rows += rs.getInt(2);
        }
      }
      // A share group promises no order, so there is nothing to check.
      int reordered = share ? 0 : reorderedGroups(s, samples);
      Map<String, Boolean> deadLetters = new HashMap<>();
      try (PreparedStatement ps =
          c.prepareStatement(
              "SELECT event_id, has_event_id FROM idem.dead_letters WHERE consumer_name = ?")) {
        ps.setString(1, consumerName);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            deadLetters.put(rs.getString(1), rs.getBoolean(2));
          }
        }
      }
      int lost = 0;
      int doubled = 0;
      int applied = 0;
      int unexpected = 0;
      int poisonDeadLettered = 0;
      for (Workload.Planned p : workload.events()) {
        String id = p.event().id();
        int n = rowsPerEvent.getOrDefault(id, 0);
        if (p.event().poison()) {
          if (n > 0) {
            unexpected++;
            sample(samples, "poison event applied: " + id);
          }
          if (Boolean.TRUE.equals(deadLetters.get(id))) {
            poisonDeadLettered++;
          } else {
            sample(samples, "poison event not dead-lettered: " + id);
          }
          continue;
        }
        if (n == 0) {
          lost++;
          sample(samples, "lost: " + id + " " + p.event());
        } else {
          applied++;
          if (n > 1) {
            doubled++;
            sample(samples, "applied " + n + " times: " + id);
          }
        }
      }
      java.util.Set<String> known = new java.util.HashSet<>();
      workload.events().forEach(p -> known.add(p.event().id()));
      for (String id : rowsPerEvent.keySet()) {
        if (!known.contains(id)) {
          unexpected++;
          sample(samples, "unknown event in the ledger: " + id);
        }
      }
      int stray = 0;
      for (String id : deadLetters.keySet()) {
        if (!workload.poisonIds().contains(id)) {
          stray++;
          sample(samples, "dead letter of a healthy event: " + id);
        }
      }
      return new Effects(
          rows,
          applied,
          lost,
          doubled,
          unexpected,
          reordered,
          deadLetters.size(),
          poisonDeadLettered,
          stray,
          samples);
    }
  }

  /**
   * Ordering keys whose sequence numbers step back within a topic-partition in the ledger. Within
   * one topic-partition a key's records are applied one at a time in offset order, and their
   * sequence numbers never decrease there: the ledger must show them increasing.
   */
  private static int reorderedGroups(Statement s, List<String> samples) throws SQLException {
    int reordered = 0;
    try (ResultSet rs =
        s.executeQuery(
            "SELECT topic, kafka_partition, ordering_key, count(*) FROM (SELECT topic,"
                + " kafka_partition, ordering_key, seq, lag(seq) OVER (PARTITION BY topic,"
                + " kafka_partition, ordering_key ORDER BY id) AS previous FROM "
                + Ledger.TABLE
                + ") steps WHERE seq <= previous GROUP BY 1, 2, 3")) {
      while (rs.next()) {
        reordered++;
        sample(
            samples,
            "reordered: "
                + rs.getString(1)
                + "-"
                + rs.getInt(2)
                + " key "
                + rs.getString(3)
                + " ("
                + rs.getLong(4)
                + " steps back)");
      }
    }
    return reordered;
  }

  /** Advisory locks held by anyone on the server. */
  int advisoryLocks() throws SQLException {
    return (int) count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", null);
  }

  /** Database sessions of the consumers that are still open. */
  int consumerSessions() throws SQLException {
    return (int)
        count("SELECT count(*) FROM pg_stat_activity WHERE application_name = ?", applicationName);
  }

  /**
   * Partitions whose committed position is not their end offset: Kafka's committed offset, and with
   * offsets stored in PostgreSQL the stored position too. In a share group the position is where
   * the group has nothing left to deliver (see {@link #sharePositions}); a record the broker
   * archived without a row in the ledger or the dead letters shows as lost in {@link #effects}.
   */
  List<String> partitionsNotAtEnd() {
    Map<String, Object> config =
        Map.of(
            AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
            AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000,
            AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
    try (Admin admin = Admin.create(config)) {
      Map<TopicPartition, OffsetSpec> request = new HashMap<>();
      partitions.forEach(tp -> request.put(tp, OffsetSpec.latest()));
      Map<TopicPartition, Long> ends = new HashMap<>();
      admin
          .listOffsets(request)
          .all()
          .get(15, TimeUnit.SECONDS)
          .forEach((tp, info) -> ends.put(tp, info.offset()));
      Map<TopicPartition, Long> committed = share ? sharePositions(admin, ends) : committed(admin);
      Map<TopicPartition, Long> stored = offsetsInPostgresql ? storedPositions() : Map.of();
      List<String> behind = new ArrayList<>();
      for (TopicPartition tp : partitions) {
        long position = committed.getOrDefault(tp, -1L);
        if (position != ends.get(tp)) {
          behind.add(tp + " committed at " + position + " of " + ends.get(tp));
        }
        if (offsetsInPostgresql && stored.getOrDefault(tp, -1L).longValue() != ends.get(tp)) {
          behind.add(tp + " stored at " + stored.getOrDefault(tp, -1L) + " of " + ends.get(tp));
        }
      }
      return behind;
    } catch (SQLException e) {
      return List.of("stored positions unreadable: " + e);
    } catch (ExecutionException | TimeoutException e) {
      return List.of("offsets unreadable: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ChaosException("interrupted", e);
    }
  }

  private Map<TopicPartition, Long> committed(Admin admin)
      throws ExecutionException, InterruptedException, TimeoutException {
    Map<TopicPartition, Long> result = new HashMap<>();
    admin
        .listConsumerGroupOffsets(consumerName)
        .partitionsToOffsetAndMetadata()
        .get(15, TimeUnit.SECONDS)
        .forEach((tp, om) -> result.put(tp, om == null ? -1 : om.offset()));
    return result;
  }

  /**
   * How far a share group is done with each partition: the end offset less the group's lag (the
   * records from its start offset on that are neither acknowledged nor archived). The start offset
   * alone lags behind: the state the broker last persisted was written with the acknowledgements of
   * the last records, before they moved it.
   */
  private Map<TopicPartition, Long> sharePositions(Admin admin, Map<TopicPartition, Long> ends)
      throws ExecutionException, InterruptedException, TimeoutException {
    Map<TopicPartition, Long> result = new HashMap<>();
    admin
        .listShareGroupOffsets(
            Map.of(consumerName, new ListShareGroupOffsetsSpec().topicPartitions(partitions)))
        .partitionsToOffsetInfo(consumerName)
        .get(15, TimeUnit.SECONDS)
        .forEach(
            (tp, info) ->
                result.put(
                    tp,
                    info == null
                        ? -1
                        : info.lag().map(lag -> ends.get(tp) - lag).orElse(info.startOffset())));
    return result;
  }

  private Map<TopicPartition, Long> storedPositions() throws SQLException {
    Map<TopicPartition, Long> result = new HashMap<>();
    try (Connection c = database.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT topic, kafka_partition, next_offset FROM idem.consumer_offsets"
                    + " WHERE consumer_name = ?")) {
      ps.setString(1, consumerName);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.put(new TopicPartition(rs.getString(1), rs.getInt(2)), rs.getLong(3));
        }
      }
    }
    return result;
  }

  private long count(String sql, String parameter) throws SQLException {
    try (Connection c = database.getConnection();
        PreparedStatement ps = c.prepareStatement(sql)) {
      if (parameter != null) {
        ps.setString(1, parameter);
      }
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  private static void sample(List<String> samples, String line) {
    if (samples.size() < SAMPLE) {
      samples.add(line);
    }
  }
}
