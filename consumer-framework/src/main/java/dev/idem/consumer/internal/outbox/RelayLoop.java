package dev.idem.consumer.internal.outbox;

import dev.idem.lock.FencingToken;
import dev.idem.lock.LeaderElection;
import dev.idem.lock.StaleLeaderException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's thread: while this instance leads, runs rounds, at once after a round that found rows
 * and after the poll interval otherwise; while it does not, holds no producer. Keeps what the
 * health shows of the rounds.
 */
final class RelayLoop implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(RelayLoop.class);

  private final String relay;
  private final LeaderElection election;
  private final RelayRound round;
  private final RelayProducer producer;
  private final Duration pollInterval;
  private final BooleanSupplier running;
  private final AtomicLong rounds = new AtomicLong();
  private volatile Instant lastRound;
  private volatile int failedRounds;
  private volatile String lastFailure;

  RelayLoop(
      String relay,
      LeaderElection election,
      RelayRound round,
      RelayProducer producer,
      Duration pollInterval,
      BooleanSupplier running) {
    this.relay = relay;
    this.election = election;
    this.round = round;
    this.producer = producer;
    this.pollInterval = pollInterval;
    this.running = running;
  }

  @Override
  public void run() {
    while (running.getAsBoolean()) {
      try {
        FencingToken token = election.token().orElse(null);
        if (token == null || !election.isLeader()) {
          producer.close();
          sleep(pollInterval);
          continue;
        }
        int sent = round.run(token);
        rounds.incrementAndGet();
        lastRound = Instant.now();
        failedRounds = 0;
        lastFailure = null;
        if (sent == 0) {
          sleep(pollInterval);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (StaleLeaderException e) {
        log.warn("outbox relay {}: a newer leader exists; this one stops publishing", relay);
        producer.close();
      } catch (ProducerFencedException e) {
        log.warn("outbox relay {}: fenced by a newer relay's producer", relay);
        producer.close();
      } catch (Exception e) {
        log.warn(
            "outbox relay {}: round failed, nothing marked; retrying: {}", relay, e.toString());
        failedRounds++;
        lastFailure = e.toString();
        producer.close();
        try {
          sleep(Duration.ofMillis(Math.max(500, pollInterval.toMillis())));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  private static void sleep(Duration d) throws InterruptedException {
    Thread.sleep(d.toMillis());
  }

  /** Rounds run as leader, empty or not. */
  long rounds() {
    return rounds.get();
  }

  /** When the last round as leader finished, or null. */
  Instant lastRound() {
    return lastRound;
  }

  /** Rounds that failed since the last one that succeeded. */
  int failedRounds() {
    return failedRounds;
  }

  /** The last failed round's error, or null when the last round succeeded. */
  String lastFailure() {
    return lastFailure;
  }
}
