package dev.idem.consumer.internal.tx;

import dev.idem.consumer.internal.store.ParkedKeys;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A {@link RecordAttempts} that plays back scripted outcomes instead of running transactions, for
 * unit tests of the tasks that decide what follows an attempt. Each script's last outcome repeats.
 * Records every call, so a test can assert what was attempted and dead-lettered, in which order.
 * The event id of a readable record is {@code "e" + offset}; its payload is {@code "v" + offset}.
 */
public final class ScriptedAttempts implements RecordAttempts<String> {
  private final Deque<Outcome> attempts = new ArrayDeque<>(List.of(processed()));
  private Supplier<Outcome> attemptOutcome;
  private final Deque<Outcome> deadLetters = new ArrayDeque<>(List.of(deadLettered()));
  private final Set<Long> unreadable = new HashSet<>();
  private final List<Integer> attemptNumbers = new ArrayList<>();
  private final List<String> deadLetterCalls = new ArrayList<>();

  /** Attempts at a record end with {@code outcomes}, in turn; the last one repeats. */
  public synchronized ScriptedAttempts attemptsEndWith(Outcome... outcomes) {
    attempts.clear();
    attempts.addAll(List.of(outcomes));
    attemptOutcome = null;
    return this;
  }

  /** Attempts at a record end with what {@code outcome} says at the time of each attempt. */
  public synchronized ScriptedAttempts attemptsEndWith(Supplier<Outcome> outcome) {
    attemptOutcome = outcome;
    return this;
  }

  /** Dead-letter writes end with {@code outcomes}, in turn; the last one repeats. */
  public synchronized ScriptedAttempts deadLettersEndWith(Outcome... outcomes) {
    deadLetters.clear();
    deadLetters.addAll(List.of(outcomes));
    return this;
  }

  /** The record at {@code offset} cannot be read: its event id is unusable. */
  public synchronized ScriptedAttempts unreadableAt(long offset) {
    unreadable.add(offset);
    return this;
  }

  /** The attempt number of every {@link #process} call, in order. */
  public synchronized List<Integer> attempts() {
    return List.copyOf(attemptNumbers);
  }

  /** Every {@link #deadLetter} call as {@code "reason after N attempt(s)"}, in order. */
  public synchronized List<String> deadLetters() {
    return List.copyOf(deadLetterCalls);
  }

  @Override
  public synchronized Read<String> read(ConsumerRecord<byte[], byte[]> record) {
    if (unreadable.contains(record.offset())) {
      return Read.failed(
          record, null, Read.INVALID_EVENT_ID, new IllegalArgumentException("no event id"));
    }
    return Read.ok(record, "e" + record.offset(), "v" + record.offset());
  }

  @Override
  public synchronized Outcome process(
      ConsumerRecord<byte[], byte[]> record, int attempt, ParkedKeys.Scope scope) {
    attemptNumbers.add(attempt);
    return attemptOutcome != null ? attemptOutcome.get() : next(attempts);
  }

  @Override
  public synchronized Outcome deadLetter(
      ConsumerRecord<byte[], byte[]> record,
      String eventId,
      String reason,
      int attempts,
      Throwable failure,
      ParkedKeys.Scope scope) {
    deadLetterCalls.add(reason + " after " + attempts + " attempt(s)");
    return next(deadLetters);
  }

  @Override
  public ParkedKeys.Scope parkScope(ConsumerRecord<byte[], byte[]> record, Object orderingKey) {
    return null;
  }

  @Override
  public boolean isKeyRace(SQLException e) {
    return false;
  }

  private static Outcome next(Deque<Outcome> script) {
    return script.size() > 1 ? script.poll() : script.peek();
  }

  /** The handler ran and the transaction committed. */
  public static Outcome processed() {
    return Outcome.of(Outcome.Kind.PROCESSED, "e");
  }

  /** The event id was processed before. */
  public static Outcome duplicate() {
    return Outcome.of(Outcome.Kind.DUPLICATE, "e");
  }

  /** The record was written to the dead letters. */
  public static Outcome deadLettered() {
    return Outcome.of(Outcome.Kind.DEAD_LETTERED, "e");
  }

  /** The attempt (or the dead-letter write) failed with {@code failure} and rolled back. */
  public static Outcome failed(Throwable failure) {
    return Outcome.failed("e", failure);
  }

  /**
   * The record could not be read ({@code reason}: {@link Read#INVALID_EVENT_ID} or {@link
   * Read#UNDESERIALIZABLE}) with {@code failure}; no transaction ran.
   */
  public static Outcome unreadable(String reason, Throwable failure) {
    return Outcome.unreadable(null, reason, failure);
  }
}
