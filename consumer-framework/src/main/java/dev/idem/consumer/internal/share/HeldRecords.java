package dev.idem.consumer.internal.share;

import dev.idem.consumer.internal.share.HeldRecord.Coordinates;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.ShareConsumer;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The records a share consumer holds, from acquisition to acknowledgement, and the one place that
 * acknowledges them through the client; on the poll thread only.
 *
 * <p>The client refuses to poll while a record of the previous poll is unacknowledged. So a poll
 * may come once every held record is answered, or once the broker has renewed those being renewed:
 * before half its lock has passed, each record still in work is acknowledged with {@code RENEW} and
 * that is sent at once ({@code commitAsync}, whose request acquires nothing); the next poll returns
 * it, and {@link #took} matches it by its coordinates to the work still running on it. A poll made
 * before the broker answered a renewal would send a fetch that acquires records the client keeps
 * unseen while renewals last, their locks running out: so the loop polls only once every renewal is
 * answered, looking for the answers every few milliseconds meanwhile. A renewal the broker refuses
 * ends that record's delivery here.
 *
 * <p>In a group that does not renew, the held records keep the next poll back until all are
 * answered; the answers given so far are sent every quarter of the lock meanwhile.
 */
final class HeldRecords {
  private static final Logger log = LoggerFactory.getLogger(HeldRecords.class);

  /** Locks are renewed once this share of them has passed. */
  private static final double RENEW_AT = 0.5;

  /** While a renewal is unanswered, the loop looks for the broker's answer this often. */
  private static final Duration RENEWAL_CHECK = Duration.ofMillis(5);

  private final String name;
  private final Clock clock;
  private final ShareMetrics metrics;
  private final LiveGroupSettings group;
  private final Map<Coordinates, HeldRecord> held = new LinkedHashMap<>();
  private ShareConsumer<byte[], byte[]> client;
  private Duration lock;
  private boolean unsent;
  private long lastSent = System.nanoTime();
  private volatile Instant lastCommit;

  HeldRecords(String name, Clock clock, ShareMetrics metrics, LiveGroupSettings group) {
    this.name = name;
    this.clock = clock;
    this.metrics = metrics;
    this.group = group;
    this.lock = group.current().lockDuration();
  }

  /** The client that acquires the records; its acknowledgement callback runs on the poll thread. */
  void attach(ShareConsumer<byte[], byte[]> client) {
    this.client = client;
    client.setAcknowledgementCommitCallback(this::acknowledged);
  }

  int size() {
    return held.size();
  }

  boolean isEmpty() {
    return held.isEmpty();
  }

  /** Whether {@code h} is still held (its delivery did not end meanwhile). */
  boolean holds(HeldRecord h) {
    return held.get(h.coordinates()) == h;
  }

  /** The held record of {@code record}'s coordinates, or null. */
  HeldRecord get(ConsumerRecord<byte[], byte[]> record) {
    return held.get(Coordinates.of(record));
  }

  /** When the broker last accepted acknowledgements, or null. */
  Instant lastCommit() {
    return lastCommit;
  }

  /**
   * Whether the next poll may come now: every held record is answered (and {@code acquire} allows a
   * poll that acquires more), or every renewal is answered (the poll takes the renewed records back
   * and acquires nothing). Renews the locks of the records in work once due.
   */
  boolean mayPoll(boolean acquire) {
    boolean unanswered = false;
    boolean renewed = false;
    long renewDue = Long.MAX_VALUE;
    int inFlight = 0;
    for (HeldRecord h : held.values()) {
      if (!h.renewing) {
        inFlight++;
        renewDue = Math.min(renewDue, renewalDue(h));
      } else if (h.renewed) {
        renewed = true;
      } else {
        unanswered = true;
      }
    }
    if (inFlight == 0) {
      return !unanswered && (renewed || acquire);
    }
    if (!group.current().renewals() || System.nanoTime() < renewDue) {
      return false;
    }
    for (HeldRecord h : new ArrayList<>(held.values())) {
      if (!h.renewing && send(h, AcknowledgeType.RENEW)) {
        h.renewing = true;
        h.renewed = false;
        metrics.renewed(h.record.topic());
      }
    }
    sendNow();
    return false;
  }

  /** Whether the next poll only takes renewed records back: it need not wait. */
  boolean renewing() {
    return held.values().stream().anyMatch(h -> h.renewing);
  }

  /** Until when ({@link System#nanoTime()}) the loop may wait for results: the next thing due. */
  long due(long until) {
    boolean renewals = group.current().renewals();
    long now = System.nanoTime();
    for (HeldRecord h : held.values()) {
      if (!h.renewing && renewals) {
        until = Math.min(until, renewalDue(h));
      } else if (h.renewing && !h.renewed) {
        until = Math.min(until, now + RENEWAL_CHECK.toNanos());
      }
    }
    if (unsent) {
      until = Math.min(until, lastSent + lock.toNanos() / 4);
    }
    return until;
  }

  /**
   * After a wait: sends the answers given so far when the held records have kept the next poll back
   * for a quarter of the lock, and takes the broker's answers to renewals (the client hands them
   * over in that call).
   */
  void afterWait() {
    boolean unanswered = held.values().stream().anyMatch(h -> h.renewing && !h.renewed);
    if (unanswered
        || (unsent && !held.isEmpty() && System.nanoTime() - lastSent >= lock.toNanos() / 4)) {
      sendNow();
    }
  }

  /** A poll returned: it carried the acknowledgements given so far. */
  void polled() {
    lastSent = System.nanoTime();
    unsent = false;
  }

  /**
   * Takes a poll's records at {@code now}: renewed ones back in hand (an answer given meanwhile is
   * sent now), the others held from now in a delivery of the client's current lock.
   *
   * @return the records acquired anew, in poll order
   */
  List<HeldRecord> took(ConsumerRecords<byte[], byte[]> records, long now) {
    lock = client.acquisitionLockTimeoutMs().map(Duration::ofMillis).orElse(lock);
    ShareRecordTask.Delivery delivery = new ShareRecordTask.Delivery(now, lock);
    List<HeldRecord> acquired = new ArrayList<>(records.count());
    for (TopicPartition tp : records.partitions()) {
      for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
        HeldRecord h = get(r);
        if (h == null) {
          h = new HeldRecord(r, delivery, now);
          held.put(h.coordinates(), h);
          acquired.add(h);
        } else if (h.renewing) {
          // Renewed: the same delivery, still in work (or answered meanwhile).
          h.renewing = false;
          h.renewed = false;
          h.record = r;
          h.lockFrom = now;
          if (h.answer != null) {
            answer(h, h.answer);
          }
        } else {
          log.warn("idem share consumer {}: {} returned while held; ignored", name, r);
        }
      }
    }
    return acquired;
  }

  /** Acknowledges {@code h} with {@code type}, or once a poll returns it while it is renewed. */
  void answer(HeldRecord h, AcknowledgeType type) {
    h.run = null;
    if (h.renewing) {
      h.answer = type;
      return;
    }
    held.remove(h.coordinates());
    send(h, type);
  }

  /** The answer of work that outlived its record's delivery: dropped, counted and logged. */
  void late(ConsumerRecord<byte[], byte[]> record, ShareRecordTask.Answer answer) {
    metrics.lateAnswer(record.topic());
    log.info(
        "idem share consumer {}: the answer {} for {}-{}@{} came after its delivery ended;"
            + " dropped",
        name,
        answer,
        record.topic(),
        record.partition(),
        record.offset());
  }

  /** The held records go back to the broker; those being renewed come back when it closes. */
  void releaseAll() {
    for (HeldRecord h : new ArrayList<>(held.values())) {
      if (h.renewing) {
        continue;
      }
      try {
        if (h.deliveryCount() >= group.current().deliveryLimit()) {
          log.error(
              "idem share consumer {}: closing with {} unfinished on the share group's last"
                  + " delivery; released, the broker archives it",
              name,
              h);
        }
        client.acknowledge(h.record, AcknowledgeType.RELEASE);
      } catch (RuntimeException e) {
        break; // the client is closed: the broker redelivers them after their locks
      }
    }
    held.clear();
  }

  private long renewalDue(HeldRecord h) {
    return h.lockFrom + (long) (lock.toNanos() * RENEW_AT);
  }

  private void sendNow() {
    client.commitAsync();
    lastSent = System.nanoTime();
    unsent = false;
  }

  /**
   * Acknowledges {@code h}'s record with {@code type}; a record the client no longer holds (it
   * refuses with an {@link IllegalStateException}) leaves the held records: the broker has it.
   */
  private boolean send(HeldRecord h, AcknowledgeType type) {
    try {
      client.acknowledge(h.record, type);
      unsent = true;
      return true;
    } catch (IllegalStateException e) {
      held.remove(h.coordinates());
      log.warn(
          "idem share consumer {}: the client no longer holds {} ({}); its delivery ended",
          name,
          h,
          e.getMessage());
      return false;
    }
  }

  /**
   * The broker's answer to acknowledgements, on the poll thread: the client sends them with the
   * next poll (one round trip fewer per poll than a {@code commitSync}), a {@code commitAsync}, or
   * at close. A renewal answered marks its record renewed; a refused one ends its delivery.
   */
  private void acknowledged(Map<TopicIdPartition, Set<Long>> offsets, Exception failure) {
    if (failure == null) {
      lastCommit = clock.instant();
    }
    boolean refused = false;
    for (Map.Entry<TopicIdPartition, Set<Long>> e : offsets.entrySet()) {
      TopicIdPartition tp = e.getKey();
      for (long offset : e.getValue()) {
        Coordinates c = new Coordinates(tp.topic(), tp.partition(), offset);
        HeldRecord h = held.get(c);
        boolean renewal = h != null && h.renewing;
        if (failure == null) {
          if (renewal) {
            h.renewed = true;
          }
        } else if (renewal) {
          held.remove(c);
          metrics.renewalRefused(tp.topic());
          group.stale(); // renewals may have been turned off on the group
          log.warn(
              "idem share consumer {}: the broker refused to renew the lock of {} ({}); its"
                  + " delivery ends, the record goes to another one",
              name,
              h,
              failure.toString());
        } else {
          // Mostly a lock that expired while the handler ran: the record went to another
          // consumer, whose copy waits on the event's advisory lock and is skipped.
          metrics.acknowledgementFailed(tp.topic());
          refused = true;
        }
      }
    }
    if (refused) {
      log.info(
          "consumer {}: the broker refused acknowledgements of {}: {}",
          name,
          offsets,
          failure.toString());
    }
  }
}
