package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.Fuzz;
import dev.idem.testkit.TestInfrastructure;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A seeded mix of valid records (some delivered several times) and records that cannot be read or
 * have no usable event id, consumed with four workers: every valid event applies once, every bad
 * record is dead-lettered once with its reason, the consumer keeps running and commits to the end.
 * Seeded: see {@link Fuzz}.
 */
class DeserializationFuzzTest {
  private static final int PARTITIONS = 4;
  private static final int RECORDS = 1200;
  private static final int HUGE_VALUES = 4;

  @RegisterExtension final Closer closer = new Closer();

  /** The payload type. Jackson refuses unknown fields and wrong types by default. */
  record Payment(String account, long amount) {}

  /** What a generated record is, and what must become of it. */
  enum Kind {
    VALID(null),
    VALID_COPY(null),
    VALID_WITH_SAME_HEADER_TWICE(null),
    RANDOM_BYTES("undeserializable"),
    TRUNCATED_JSON("undeserializable"),
    NULL_VALUE("undeserializable"),
    HUGE_VALUE("undeserializable"),
    WRONG_FIELDS("undeserializable"),
    WRONG_TYPES("undeserializable"),
    JUNK_HEADERS_AND_BAD_VALUE("undeserializable"),
    TEXT_WITH_NUL("undeserializable"),
    MISSING_ID("invalid-event-id"),
    EMPTY_ID("invalid-event-id"),
    WHITESPACE_ID("invalid-event-id"),
    NUL_IN_ID("invalid-event-id"),
    LONG_ID("invalid-event-id"),
    INVALID_UTF8_ID("invalid-event-id"),
    CONFLICTING_ID_HEADERS("invalid-event-id");

    final String reason;

    Kind(String reason) {
      this.reason = reason;
    }

    boolean bad() {
      return reason != null;
    }
  }

  @Test
  void badRecordsAreDeadLetteredOnceAndValidOnesApplyOnceWhileTheConsumerRuns() throws Exception {
    long seed = Fuzz.seed(DeserializationFuzzTest.class);
    Random random = new Random(seed);
    String name = TestInfrastructure.uniqueName("fuzzdeser");
    INFRA.createTopics(PARTITIONS, name);
    String effects = name + "_effects";
    createEffectsTable(effects);

    Generated g = generate(name, random);
    Collections.shuffle(g.records, random);
    send(g.records);
    System.out.println("DeserializationFuzzTest: " + g.counts);

    IdemConfig config = config(name, name).concurrency(4).build();
    IdempotentConsumer<Payment> consumer =
        closer.add(
            consumerBuilder(config, Payloads.json(Payment.class), closer.add(pool(6)))
                .handler(
                    (payment, ctx) ->
                        insertEffect(effects, payment.account() + ":" + payment.amount(), ctx))
                .build());
    Set<ConsumerState> statesAfterRunning = ConcurrentHashMap.newKeySet();
    AtomicBoolean running = new AtomicBoolean();
    AtomicBoolean stop = new AtomicBoolean();
    Thread sampler =
        new Thread(
            () -> {
              while (!stop.get()) {
                ConsumerState state = consumer.snapshot().state();
                if (state == ConsumerState.RUNNING) {
                  running.set(true);
                } else if (running.get()) {
                  statesAfterRunning.add(state);
                }
                try {
                  Thread.sleep(5);
                } catch (InterruptedException e) {
                  return;
                }
              }
            },
            "state-sampler");
    sampler.start();
    long start = System.nanoTime();
    consumer.start();
    try {
      awaitTrue(
          Duration.ofSeconds(45),
          "seed " + seed + ": offsets committed to the end",
          () -> committedToTheEnd(name));
    } finally {
      stop.set(true);
      sampler.join(5_000);
    }
    System.out.printf(
        "DeserializationFuzzTest: %d records consumed in %d ms%n",
        g.records.size(), (System.nanoTime() - start) / 1_000_000);

    String as = "seed " + seed;
    assertThat(running.get()).as(as).isTrue();
    assertThat(statesAfterRunning).as(as + ": states after RUNNING").isEmpty();
    assertThat(consumer.snapshot().state()).as(as).isEqualTo(ConsumerState.RUNNING);

    Map<String, String> applied = new HashMap<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT event_id, payload FROM " + effects)) {
      while (rs.next()) {
        assertThat(applied.put(rs.getString(1), rs.getString(2)))
            .as(as + ": %s applied twice", rs.getString(1))
            .isNull();
      }
    }
    assertThat(applied).as(as + ": effects").isEqualTo(g.valid);
    assertThat(count("SELECT count(*) FROM idem.processed_events WHERE consumer_name = ?", name))
        .as(as)
        .isEqualTo(g.valid.size());

    Map<String, Integer> reasons = new TreeMap<>();
    Set<String> deadWithId = new HashSet<>();
    try (Connection c = INFRA.postgres().dataSource().getConnection();
        PreparedStatement ps =
            prepare(
                c,
                "SELECT event_id, has_event_id, reason, exception_message"
                    + " FROM idem.dead_letters WHERE consumer_name = ?",
                name);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        assertThat(rs.getString(4))
            .as(as + ": exception message of %s", rs.getString(1))
            .isNotBlank();
        reasons.merge(rs.getString(3), 1, Integer::sum);
        if (rs.getBoolean(2)) {
          deadWithId.add(rs.getString(1));
        }
      }
    }
    Map<String, Integer> expectedReasons = new TreeMap<>();
    g.counts.forEach(
        (kind, n) -> {
          if (kind.bad()) {
            expectedReasons.merge(kind.reason, n, Integer::sum);
          }
        });
    assertThat(reasons).as(as + ": dead letters by reason").isEqualTo(expectedReasons);
    assertThat(deadWithId).as(as + ": dead letters under their event id").isEqualTo(g.badWithId);
  }

  private static boolean committedToTheEnd(String topic) {
    try {
      Map<TopicPartition, Long> committed = committedOffsets(topic);
      for (Map.Entry<TopicPartition, Long> end : endOffsets(topic, PARTITIONS).entrySet()) {
        if (end.getValue() > 0 && !end.getValue().equals(committed.get(end.getKey()))) {
          return false;
        }
      }
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  /** The records, the effect each valid event id must leave, and the bad ids with a valid id. */
  private static final class Generated {
    final List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    final Map<String, String> valid = new HashMap<>();
    final Set<String> badWithId = new HashSet<>();
    final Map<Kind, Integer> counts = new TreeMap<>();
    int huge;
  }

  private static Generated generate(String topic, Random random) {
    Generated g = new Generated();
    Kind[] kinds = Kind.values();
    for (int i = 0; g.records.size() < RECORDS; i++) {
      Kind kind = random.nextBoolean() ? Kind.VALID : kinds[random.nextInt(kinds.length)];
      if (kind == Kind.VALID_COPY && g.valid.isEmpty()
          || kind == Kind.HUGE_VALUE && g.huge >= HUGE_VALUES) {
        kind = Kind.VALID;
      }
      String id = "ev-" + i + "-" + Long.toString(random.nextLong() & Long.MAX_VALUE, 36);
      String account = "acct-" + random.nextInt(40);
      long amount = 1 + random.nextInt(1_000_000);
      byte[] value = json(account, amount);
      String effect = account + ":" + amount;
      ProducerRecord<byte[], byte[]> r;
      switch (kind) {
        case VALID -> {
          r = record(topic, random, id, value);
          g.valid.put(id, effect);
        }
        case VALID_COPY -> {
          // Another delivery of an earlier event, anywhere.
          List<String> ids = new ArrayList<>(new TreeMap<>(g.valid).keySet());
          String earlier = ids.get(random.nextInt(ids.size()));
          String[] parts = g.valid.get(earlier).split(":");
          r = record(topic, random, earlier, json(parts[0], Long.parseLong(parts[1])));
        }
        case VALID_WITH_SAME_HEADER_TWICE -> {
          r = record(topic, random, id, value);
          r.headers().add("webhook-id", utf8(id));
          g.valid.put(id, effect);
        }
        case RANDOM_BYTES ->
            r = record(topic, random, id, randomBytes(random, 1 + random.nextInt(300)));
        case TRUNCATED_JSON ->
            r = record(topic, random, id, Arrays.copyOf(value, random.nextInt(value.length)));
        case NULL_VALUE -> r = record(topic, random, id, null);
        case HUGE_VALUE -> {
          g.huge++;
          r = record(topic, random, id, randomBytes(random, 600_000 + random.nextInt(200_000)));
        }
        case WRONG_FIELDS -> r = record(topic, random, id, utf8(wrongFields(random)));
        case WRONG_TYPES -> r = record(topic, random, id, utf8(wrongTypes(random)));
        case JUNK_HEADERS_AND_BAD_VALUE -> {
          r = record(topic, random, id, randomBytes(random, 1 + random.nextInt(100)));
          r.headers().add("x\0y", randomBytes(random, 10));
          // No lone surrogates in header keys: the Kafka client sizes them as 3 bytes, encodes
          // them as 1, and the broker refuses the batch.
          r.headers().add("\u00e9\u0001" + new String(Fuzz.randomAscii(random, 8)), null);
          r.headers().add("", randomBytes(random, 3));
        }
        case TEXT_WITH_NUL -> {
          // Jackson quotes an unrecognized token, NUL included, in its message.
          String text = "token" + new String(Fuzz.randomAscii(random, 3)).replaceAll("\\W", "");
          r = record(topic, random, id, utf8(text + "\0" + text));
        }
        case MISSING_ID -> r = record(topic, random, null, value);
        case EMPTY_ID -> r = record(topic, random, "", value);
        case WHITESPACE_ID ->
            r = record(topic, random, " \t\n ".substring(random.nextInt(3)), value);
        case NUL_IN_ID -> r = record(topic, random, id + "\0" + random.nextInt(10), value);
        case LONG_ID ->
            r = record(topic, random, id + "\u00e9\u20ac".repeat(100 + random.nextInt(200)), value);
        case INVALID_UTF8_ID -> {
          r = record(topic, random, null, value);
          byte[] bytes = Arrays.copyOf(utf8(id), id.length() + 2);
          bytes[id.length()] = (byte) (0x80 + random.nextInt(0x40)); // a lone continuation byte
          bytes[id.length() + 1] = (byte) (0xf8 + random.nextInt(8)); // never valid in UTF-8
          r.headers().add("webhook-id", bytes);
        }
        default -> {
          r = record(topic, random, id, value);
          r.headers().add("webhook-id", utf8(id + "-other"));
        }
      }
      if (kind == Kind.RANDOM_BYTES
          || kind == Kind.TRUNCATED_JSON
          || kind == Kind.NULL_VALUE
          || kind == Kind.HUGE_VALUE
          || kind == Kind.WRONG_FIELDS
          || kind == Kind.WRONG_TYPES
          || kind == Kind.JUNK_HEADERS_AND_BAD_VALUE
          || kind == Kind.TEXT_WITH_NUL) {
        g.badWithId.add(id);
      }
      g.counts.merge(kind, 1, Integer::sum);
      g.records.add(r);
    }
    return g;
  }

  private static ProducerRecord<byte[], byte[]> record(
      String topic, Random random, String eventId, byte[] value) {
    byte[] key = random.nextInt(10) == 0 ? null : utf8("k" + random.nextInt(30));
    ProducerRecord<byte[], byte[]> r =
        new ProducerRecord<>(topic, random.nextInt(PARTITIONS), key, value);
    if (eventId != null) {
      r.headers().add("webhook-id", utf8(eventId));
    }
    return r;
  }

  private static byte[] json(String account, long amount) {
    return utf8("{\"account\":\"" + account + "\",\"amount\":" + amount + "}");
  }

  private static String wrongFields(Random random) {
    return switch (random.nextInt(4)) {
      case 0 -> "{\"acct\":\"a\",\"amount\":1}";
      case 1 -> "{\"account\":\"a\",\"amount\":1,\"extra\":true}";
      case 2 -> "[\"account\",\"amount\"]";
      default -> "{\"account\":\"a\",\"amount\":1,\"account\":{}}";
    };
  }

  private static String wrongTypes(Random random) {
    return switch (random.nextInt(4)) {
      case 0 -> "{\"account\":\"a\",\"amount\":\"lots\"}";
      case 1 -> "{\"account\":\"a\",\"amount\":1e400}";
      case 2 -> "{\"account\":[1],\"amount\":1}";
      default -> "{\"account\":\"a\",\"amount\":99999999999999999999999}";
    };
  }

  private static byte[] randomBytes(Random random, int length) {
    byte[] bytes = new byte[length];
    random.nextBytes(bytes);
    bytes[0] = (byte) 0xff; // never the start of JSON text
    return bytes;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
