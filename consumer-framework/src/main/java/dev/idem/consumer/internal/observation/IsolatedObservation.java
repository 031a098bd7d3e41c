package dev.idem.consumer.internal.observation;

import io.micrometer.observation.Observation;
import java.util.function.Supplier;

/**
 * One attempt's observation, kept apart from the attempt it observes. Starting, scoping, erroring
 * and stopping an observation run the registry's handlers and conventions: user code (a tracing
 * plugin, a convention that renames spans) that may throw. Whatever it throws is caught here,
 * reported to the {@link Observations} (a log line, at most one a minute per phase) and to the
 * caller's {@link Listener} (a meter), and never reaches the attempt: a broken plugin must not
 * fail, repeat or hold back a record whose effects are in the database already (a failure in {@code
 * onStop} comes after the commit) or about to be (a failure in {@code onStart} would fail every
 * record, and dead-letter them all, over a tracing problem).
 *
 * <p>An observation that could not start is dropped: the attempt runs without it (its trace ids in
 * the MDC come from the record's {@code traceparent}), and it is neither scoped nor stopped, since
 * its handlers did not all see it start.
 */
public final class IsolatedObservation {

  /** Where in an observation's life its user code failed: the meter's {@code phase} tag. */
  public enum Phase {
    /** Creating and starting it: conventions' names and tags, handlers' {@code onStart}. */
    START,
    /** Opening or closing its scope: handlers' {@code onScopeOpened} and {@code onScopeClosed}. */
    SCOPE,
    /** Ending it: handlers' {@code onError} and {@code onStop}, conventions' tags at stop. */
    STOP;

    /** The tag value: the phase in lower case. */
    public String tag() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Told of each failure of the observation's user code, after it was caught. */
  @FunctionalInterface
  public interface Listener {
    void failed(Phase phase);
  }

  private final Observation observation;
  private final Observations owner;
  private final Listener listener;
  private Observation.Scope scope;

  private IsolatedObservation(Observation observation, Observations owner, Listener listener) {
    this.observation = observation;
    this.owner = owner;
    this.listener = listener;
  }

  /** The observation {@code start} creates and starts, or one that observes nothing if it threw. */
  static IsolatedObservation start(
      Supplier<Observation> start, Observations owner, Listener listener) {
    Observation started = null;
    try {
      started = start.get();
    } catch (Throwable t) {
      failed(Phase.START, t, owner, listener);
    }
    return new IsolatedObservation(started, owner, listener);
  }

  /** The started observation, or null when it could not start. */
  public Observation observation() {
    return observation;
  }

  /** Opens its scope on the current thread. */
  public void openScope() {
    if (observation == null) {
      return;
    }
    try {
      scope = observation.openScope();
    } catch (Throwable t) {
      failed(Phase.SCOPE, t, owner, listener);
    }
  }

  /** Closes the scope {@link #openScope()} opened, if it did. */
  public void closeScope() {
    if (scope == null) {
      return;
    }
    try {
      scope.close();
    } catch (Throwable t) {
      failed(Phase.SCOPE, t, owner, listener);
    } finally {
      scope = null;
    }
  }

  /** Records {@code error} as the attempt's failure. */
  public void error(Throwable error) {
    if (observation == null) {
      return;
    }
    try {
      observation.error(error);
    } catch (Throwable t) {
      failed(Phase.STOP, t, owner, listener);
    }
  }

  /** Stops it. */
  public void stop() {
    if (observation == null) {
      return;
    }
    try {
      observation.stop();
    } catch (Throwable t) {
      failed(Phase.STOP, t, owner, listener);
    }
  }

  private static void failed(Phase phase, Throwable t, Observations owner, Listener listener) {
    // Out of memory and the like are not the plugin's to swallow; a stack overflow in it is.
    if (t instanceof VirtualMachineError && !(t instanceof StackOverflowError)) {
      throw (VirtualMachineError) t;
    }
    owner.failed(phase, t);
    listener.failed(phase);
  }
}
