package dev.idem.chaos;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

  /** The table of idem's processed marks (the consumers' default schema and name). */
  static final String PROCESSED = "idem.processed_events";

  /** The table of idem's dead letters (the consumers' default schema and name). */
  static final String DEAD_LETTERS = "idem.dead_letters";

  /**
   * What the ledger, the processed marks and the dead letters say about the workload's events.
   *
   * @param rows ledger rows
   * @param applied healthy events with a ledger row
   * @param lost healthy events without one
   * @param doubled events with more than one
   * @param unexpected ledger rows of events that must not be applied (poison, hung, slow-failing)
   *     or that the workload does not know
   * @param reorderedGroups (topic-partition, key) groups out of order (none in a share group)
   * @param deadLettered dead-letter rows of the run's consumer
   * @param poisonDeadLettered poison events with their dead letter, for the expected reason
   * @param hungDeadLettered hung events with their dead letter, for an expected reason
   * @param hungTimedOut of those, the ones given up as {@code handler-timeout} (the others timed
   *     out waiting for the event's lock behind an earlier delivery's hung attempt)
   * @param slowFailDeadLettered slow-failing events with their dead letter, for the expected reason
   * @param strayDeadLetters dead letters of healthy events
   * @param untraced events with neither a processed mark nor a dead letter: a record the broker
   *     archived, or whose offset moved on, with no trace in idem's tables
   * @param markedAndDeadLettered events with both a processed mark and a dead letter
   */
  record Effects(
      long rows,
      int applied,
      int lost,
      int doubled,
      int unexpected,
      int reorderedGroups,
      int deadLettered,
      int poisonDeadLettered,
      int hungDeadLettered,
      int hungTimedOut,
      int slowFailDeadLettered,
      int strayDeadLetters,
      int untraced,
      int markedAndDeadLettered,
      List<String> samples) {}

  /** A dead letter: whether it carries the event id, why the record was given up, and on what. */
  private record DeadLetter(boolean hasEventId, String reason, String exceptionClass) {}

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

  /**
   * What the outbox scenario's third topic says, against the ledger and the per-key commit counts.
   *
   * @param records records on the topic (read committed), a relay's repeats included
   * @param events distinct event ids among them
   * @param repeats records beyond the first of their event id: sends again after a failover or a
   *     halt between the Kafka commit and the mark, which a downstream consumer skips
   * @param lost events applied in the ledger that never arrived
   * @param unknown events that arrived without a ledger row (a rolled-back attempt's publish)
   * @param gaps places in a key's commit order (1 up to the key's count) that never arrived, or
   *     arrived for two different events
   * @param reorderedKeys keys whose places, first copies taken in offset order, did not strictly
   *     increase
   * @param unsent outbox rows not marked sent at the end
   */
  record OutboxEffects(
      long records,
      int events,
      long repeats,
      int lost,
      int unknown,
      int gaps,
      int reorderedKeys,
      long unsent,
      List<String> samples) {

    /** The broken promises, in words. */
    List<String> violations() {
      List<String> v = new ArrayList<>();
      if (lost > 0) {
        v.add("outbox: " + lost + " applied events never published");
      }
      if (unknown > 0) {
        v.add("outbox: " + unknown + " published events without a ledger row");
      }
      if (gaps > 0) {
        v.add("outbox: " + gaps + " places in a key's commit order missing or taken twice");
      }
      if (reorderedKeys > 0) {
        v.add("outbox: " + reorderedKeys + " keys published out of commit order");
      }
      if (unsent > 0) {
        v.add("outbox: " + unsent + " rows not marked sent");
      }
      return v;
    }
  }

  /** Outbox rows not yet marked sent in {@code table} (schema-qualified). */
  long outboxUnsent(String table) throws SQLException {
    return count("SELECT count(*) FROM " + table + " WHERE sent_at IS NULL", null);
  }

  /**
   * Reads the outbox scenario's topic to its end, as a {@code read_committed} consumer (idem's
   * consumers read so), and checks it: after deduplication on the event id header, which is what a
   * downstream idem consumer does, every event applied in the ledger arrived once; per key the
   * places in commit order arrive as 1, 2, 3 ... up to the key's committed count, none missing,
   * none twice, none back.
   */
  OutboxEffects outboxEffects(String topic, String table) throws SQLException {
    return outboxEffects(readToEnd(topic), outboxUnsent(table));
  }

  /** A record of the outbox topic: its event id header and its value. */
  record Published(String eventId, String value) {}

  /** The records of {@code topic}, read committed, partition after partition in offset order. */
  private List<Published> readToEnd(String topic) {
    Map<String, Object> settings = new HashMap<>();
    settings.put("bootstrap.servers", bootstrapServers);
    settings.put("isolation.level", "read_committed");
    settings.put("enable.auto.commit", false);
    Map<Integer, List<Published>> perPartition = new java.util.TreeMap<>();
    try (var reader =
        new org.apache.kafka.clients.consumer.KafkaConsumer<String, String>(
            settings,
            new org.apache.kafka.common.serialization.StringDeserializer(),
            new org.apache.kafka.common.serialization.StringDeserializer())) {
      List<TopicPartition> tps =
          reader.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .toList();
      reader.assign(tps);
      reader.seekToBeginning(tps);
      Map<TopicPartition, Long> ends = reader.endOffsets(tps);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (tps.stream().anyMatch(tp -> reader.position(tp) < ends.get(tp))) {
        if (System.nanoTime() > deadline) {
          throw new ChaosException("cannot read " + topic + " to its end " + ends);
        }
        for (var r : reader.poll(java.time.Duration.ofMillis(200))) {
          var header = r.headers().lastHeader(dev.idem.consumer.outbox.Outbox.EVENT_ID_HEADER);
          perPartition
              .computeIfAbsent(r.partition(), p -> new ArrayList<>())
              .add(
                  new Published(
                      header == null ? "" : new String(header.value(), StandardCharsets.UTF_8),
                      r.value()));
        }
      }
    }
    List<Published> all = new ArrayList<>();
    perPartition.values().forEach(all::addAll);
    return all;
  }

  /**
   * Checks {@code records} (each partition's in offset order) against the ledger and the per-key
   * commit counts; {@code unsent} is the outbox rows not marked sent.
   */
  OutboxEffects outboxEffects(List<Published> records, long unsent) throws SQLException {
    Map<String, String> firstValue = new HashMap<>();
    Map<String, List<Integer>> placesPerKey = new HashMap<>();
    Map<String, Map<Integer, String>> eventAtPlace = new HashMap<>();
    List<String> samples = new ArrayList<>();
    int gaps = 0;
    for (Published r : records) {
      String id = r.eventId();
      String previous = firstValue.putIfAbsent(id, r.value());
      if (previous != null) {
        if (!previous.equals(r.value())) {
          gaps++;
          sample(
              samples, "outbox: event " + id + " published as " + previous + " and " + r.value());
        }
        continue;
      }
      String[] parts = r.value().split("\\|");
      int place = Integer.parseInt(parts[2]);
      placesPerKey.computeIfAbsent(parts[1], k -> new ArrayList<>()).add(place);
      String other =
          eventAtPlace.computeIfAbsent(parts[1], k -> new HashMap<>()).put(place, parts[0]);
      if (other != null) {
        gaps++;
        sample(
            samples,
            "outbox: key "
                + parts[1]
                + " place "
                + place
                + " taken by "
                + other
                + " and "
                + parts[0]);
      }
    }
    Set<String> published = new HashSet<>();
    firstValue.values().forEach(v -> published.add(v.split("\\|")[0]));
    Set<String> applied = new HashSet<>();
    Map<String, Integer> committedPerKey = new HashMap<>();
    try (Connection c = database.getConnection();
        Statement st = c.createStatement()) {
      try (ResultSet rs = st.executeQuery("SELECT DISTINCT event_id FROM " + Ledger.TABLE)) {
        while (rs.next()) {
          applied.add(rs.getString(1));
        }
      }
      try (ResultSet rs =
          st.executeQuery("SELECT ordering_key, committed FROM " + Ledger.KEY_ORDER)) {
        while (rs.next()) {
          committedPerKey.put(rs.getString(1), rs.getInt(2));
        }
      }
    }
    int lost = 0;
    for (String id : applied) {
      if (!published.contains(id)) {
        lost++;
        sample(samples, "outbox: applied, never published: " + id);
      }
    }
    int unknown = 0;
    for (String id : published) {
      if (!applied.contains(id)) {
        unknown++;
        sample(samples, "outbox: published without a ledger row: " + id);
      }
    }
    int reordered = 0;
    for (Map.Entry<String, Integer> e : committedPerKey.entrySet()) {
      List<Integer> places = placesPerKey.getOrDefault(e.getKey(), List.of());
      for (int place = 1; place <= e.getValue(); place++) {
        if (!eventAtPlace.getOrDefault(e.getKey(), Map.of()).containsKey(place)) {
          gaps++;
          sample(samples, "outbox: key " + e.getKey() + " place " + place + " never published");
        }
      }
      for (int place : eventAtPlace.getOrDefault(e.getKey(), Map.of()).keySet()) {
        if (place > e.getValue()) {
          gaps++;
          sample(samples, "outbox: key " + e.getKey() + " place " + place + " never committed");
        }
      }
      for (int i = 1; i < places.size(); i++) {
        if (places.get(i) <= places.get(i - 1)) {
          reordered++;
          sample(samples, "outbox: key " + e.getKey() + " published in order " + places);
          break;
        }
      }
    }
    for (String key : placesPerKey.keySet()) {
      if (!committedPerKey.containsKey(key)) {
        gaps++;
        sample(samples, "outbox: key " + key + " published but never committed");
      }
    }
    return new OutboxEffects(
        records.size(),
        firstValue.size(),
        records.size() - firstValue.size(),
        lost,
        unknown,
        gaps,
        reordered,
        unsent,
        samples);
  }

  /**
   * Compares the ledger, the processed marks and the dead letters with the workload: every healthy
   * event applied once; every poison, hung and slow-failing event dead-lettered once, for a reason
   * {@link Workload#isExpectedDeadLetter} allows, and never applied; every event traced by exactly
   * one of a processed mark and a dead letter.
   */
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
      Map<String, DeadLetter> deadLetters = new HashMap<>();
      try (PreparedStatement ps =
          c.prepareStatement(
              "SELECT event_id, has_event_id, reason, exception_class FROM "
                  + DEAD_LETTERS
                  + " WHERE consumer_name = ?")) {
        ps.setString(1, consumerName);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            deadLetters.put(
                rs.getString(1),
                new DeadLetter(rs.getBoolean(2), rs.getString(3), rs.getString(4)));
          }
        }
      }
      Set<String> marked = new HashSet<>();
      try (PreparedStatement ps =
          c.prepareStatement("SELECT event_id FROM " + PROCESSED + " WHERE consumer_name = ?")) {
        ps.setString(1, consumerName);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            marked.add(rs.getString(1));
          }
        }
      }
      int lost = 0;
      int doubled = 0;
      int applied = 0;
      int unexpected = 0;
      int poisonDeadLettered = 0;
      int hungDeadLettered = 0;
      int hungTimedOut = 0;
      int slowFailDeadLettered = 0;
      int untraced = 0;
      int markedAndDeadLettered = 0;
      for (Workload.Planned p : workload.events()) {
        ChaosEvent event = p.event();
        String id = event.id();
        int n = rowsPerEvent.getOrDefault(id, 0);
        DeadLetter letter = deadLetters.get(id);
        if (letter != null && marked.contains(id)) {
          markedAndDeadLettered++;
          sample(samples, "processed mark and dead letter: " + id);
        }
        if (letter == null && !marked.contains(id)) {
          untraced++;
          // A lost event has no mark either; its sample says so.
          if (!event.healthy() || n > 0) {
            sample(samples, "neither processed mark nor dead letter: " + id + " " + event);
          }
        }
        if (n > 1) {
          doubled++;
          sample(samples, "applied " + n + " times: " + id);
        }
        if (event.healthy()) {
          if (n == 0) {
            lost++;
            sample(samples, "lost: " + id + " " + event);
          } else {
            applied++;
          }
          continue;
        }
        if (n > 0) {
          unexpected++;
          sample(samples, "applied, but must be dead-lettered: " + id + " " + event);
        }
        if (letter == null
            || !letter.hasEventId()
            || !workload.isExpectedDeadLetter(event, letter.reason(), letter.exceptionClass())) {
          sample(
              samples,
              "not dead-lettered as "
                  + workload.deadLetterReasons(event)
                  + ": "
                  + id
                  + " "
                  + event
                  + (letter == null
                      ? " (no dead letter)"
                      : " (" + letter.reason() + ", " + letter.exceptionClass() + ")"));
        } else if (event.poison()) {
          poisonDeadLettered++;
        } else if (event.hang()) {
          hungDeadLettered++;
          if (letter.reason().equals(Workload.HANDLER_TIMEOUT)) {
            hungTimedOut++;
          }
        } else {
          slowFailDeadLettered++;
        }
      }
      Set<String> known = new HashSet<>();
      workload.events().forEach(p -> known.add(p.event().id()));
      for (String id : rowsPerEvent.keySet()) {
        if (!known.contains(id)) {
          unexpected++;
          sample(samples, "unknown event in the ledger: " + id);
        }
      }
      Set<String> healthyIds = new HashSet<>();
      workload.events().stream()
          .filter(p -> p.event().healthy())
          .forEach(p -> healthyIds.add(p.event().id()));
      int stray = 0;
      for (Map.Entry<String, DeadLetter> e : deadLetters.entrySet()) {
        if (healthyIds.contains(e.getKey()) || !known.contains(e.getKey())) {
          stray++;
          sample(
              samples,
              "dead letter of a healthy or unknown event: "
                  + e.getKey()
                  + " ("
                  + e.getValue().reason()
                  + ")");
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
          hungDeadLettered,
          hungTimedOut,
          slowFailDeadLettered,
          stray,
          untraced,
          markedAndDeadLettered,
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
   * archived without a processed mark or a dead letter shows as untraced in {@link #effects}.
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
