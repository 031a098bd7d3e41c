package dev.idem.consumer.internal.outbox;

import dev.idem.consumer.outbox.OutboxRelayHealth;
import dev.idem.lock.FencingToken;
import dev.idem.lock.LeaderElection;
import dev.idem.lock.LeaderListener;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An outbox relay's wiring. Built with the relay: registers its meters and creates its leader
 * election (which applies the lock schema), and nothing runs yet. {@link #start()} competes for the
 * role and starts the relay's thread; {@link #close()} stops the thread, then closes the producer,
 * then hands the leadership over. The facade {@code OutboxRelay} delegates to it.
 */
public final class RelayRuntime {
  private static final Logger log = LoggerFactory.getLogger(RelayRuntime.class);

  private final String name;
  private final Backlog backlog;
  private final RelayProducer producer;
  private final LeaderElection election;
  private final RelayLoop loop;
  private final Thread thread;
  private volatile boolean running;

  /** Wires a relay; see the class comment for what that does at once. */
  public RelayRuntime(RelaySettings settings, RelayParts parts) {
    this.name = settings.name();
    RelayTable table = new RelayTable(parts.dataSource(), parts.rows());
    this.backlog = new Backlog(table);
    this.producer = new RelayProducer(name, settings.kafka(), settings.eventIdHeader());
    MeterRegistry registry =
        parts.meterRegistry() == null ? new SimpleMeterRegistry() : parts.meterRegistry();
    RelayMeters meters = new RelayMeters(registry, name, this);
    this.election =
        parts
            .locks()
            .leaderElection(
                settings.roleNamespace(), name, settings.leaderPing(), electionLog(name));
    RelayRound round =
        new RelayRound(
            table,
            settings.batchSize(),
            backlog,
            new SentRowRetention(table, settings.retention()),
            producer,
            meters,
            parts.faults());
    this.loop =
        new RelayLoop(name, election, round, producer, settings.pollInterval(), () -> running);
    this.thread = new Thread(loop, "idem-outbox-relay-" + name);
    thread.setDaemon(true);
  }

  private static LeaderListener electionLog(String name) {
    return new LeaderListener() {
      @Override
      public void elected(FencingToken token) {
        log.info("outbox relay {} elected (epoch {})", name, token.epoch());
      }

      @Override
      public void revoked(FencingToken token) {
        log.info("outbox relay {} lost its leadership (epoch {})", name, token.epoch());
      }
    };
  }

  /** Starts competing for the role and the relay's thread; a second call does nothing. */
  public synchronized void start() {
    if (running) {
      return;
    }
    running = true;
    election.start();
    thread.start();
  }

  /** Whether this instance is the relay's leader now. */
  public boolean isLeader() {
    return election.isLeader();
  }

  Backlog backlog() {
    return backlog;
  }

  /** The relay's health now; the pending figures only while it leads. */
  public OutboxRelayHealth health() {
    FencingToken token = election.isLeader() ? election.token().orElse(null) : null;
    boolean leader = token != null;
    double pending = backlog.rows();
    double oldest = backlog.oldestSeconds();
    return OutboxRelayHealth.builder(name)
        .running(running && thread.isAlive())
        .leader(leader)
        .epoch(leader ? token.epoch() : -1)
        .lastRound(loop.lastRound())
        .failedRounds(loop.failedRounds())
        .lastFailure(loop.lastFailure())
        .pendingRows(leader && !Double.isNaN(pending) ? (long) pending : -1)
        .oldestPending(
            leader && !Double.isNaN(oldest) ? Duration.ofMillis((long) (oldest * 1000)) : null)
        .build();
  }

  /** Rounds this instance ran as leader. */
  public long rounds() {
    return loop.rounds();
  }

  /**
   * Stops the thread (it finishes the round under way; waits up to 15 s), then closes the producer,
   * then closes the election, which hands the leadership over.
   */
  public void close() {
    running = false;
    thread.interrupt();
    try {
      thread.join(15_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    producer.close();
    election.close();
  }
}
