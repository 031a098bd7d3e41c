package dev.idem.consumer.internal.observation;

import dev.idem.consumer.observation.BatchObservationContext;
import dev.idem.consumer.observation.DefaultBatchObservationConvention;
import dev.idem.consumer.observation.DefaultRecordObservationConvention;
import dev.idem.consumer.observation.RecordObservationContext;
import dev.idem.consumer.observation.Traceparent;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One consumer's observations. Off (the default, {@link ObservationRegistry#NOOP}) it creates
 * nothing: {@link #off()} is checked before any context is built. On, each one is an {@link
 * IsolatedObservation}: what the registry's handlers and conventions throw is logged here and never
 * reaches the attempt.
 */
public final class Observations {
  /** The MDC key of the current record's trace id. */
  public static final String MDC_TRACE_ID = "idem.trace_id";

  /** The MDC key of the current observation's span id. */
  public static final String MDC_SPAN_ID = "idem.span_id";

  private static final Logger log = LoggerFactory.getLogger(Observations.class);

  private static final DefaultRecordObservationConvention RECORD =
      new DefaultRecordObservationConvention();
  private static final DefaultBatchObservationConvention BATCH =
      new DefaultBatchObservationConvention();

  /** At most one log line per phase in this time; the meter counts every failure. */
  private static final long LOG_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final ObservationRegistry registry;
  private final String consumerName;
  private final Map<IsolatedObservation.Phase, Reported> reported =
      new EnumMap<>(IsolatedObservation.Phase.class);

  /** Off. */
  public static Observations none(String consumerName) {
    return new Observations(ObservationRegistry.NOOP, consumerName);
  }

  /** Observations of consumer {@code consumerName} in {@code registry} (null: off). */
  public Observations(ObservationRegistry registry, String consumerName) {
    this.registry = registry == null ? ObservationRegistry.NOOP : registry;
    this.consumerName = consumerName;
    for (IsolatedObservation.Phase phase : IsolatedObservation.Phase.values()) {
      reported.put(phase, new Reported());
    }
  }

  /** Whether nothing is observed. */
  public boolean off() {
    return registry.isNoop();
  }

  /** The registry (NOOP when off). */
  public ObservationRegistry registry() {
    return registry;
  }

  /**
   * A started observation of {@code operation} on {@code record}; call only when not {@link
   * #off()}. Failures of its user code go to {@code listener}.
   */
  public IsolatedObservation record(
      ConsumerRecord<byte[], byte[]> record,
      RecordObservationContext.Operation operation,
      int attempt,
      IsolatedObservation.Listener listener) {
    return IsolatedObservation.start(
        () ->
            Observation.createNotStarted(
                    null,
                    RECORD,
                    () -> new RecordObservationContext(consumerName, record, operation, attempt),
                    registry)
                .start(),
        this,
        listener);
  }

  /**
   * A started observation of a batch or group; call only when not {@link #off()}. Failures of its
   * user code go to {@code listener}.
   */
  public IsolatedObservation batch(
      List<ConsumerRecord<byte[], byte[]>> records,
      BatchObservationContext.Unit unit,
      int attempt,
      IsolatedObservation.Listener listener) {
    return IsolatedObservation.start(
        () ->
            Observation.createNotStarted(
                    null,
                    BATCH,
                    () -> new BatchObservationContext(consumerName, records, unit, attempt),
                    registry)
                .start(),
        this,
        listener);
  }

  /**
   * Logs a failure of an observation's user code: the first of a phase at once, with its stack
   * trace, then at most one a minute with the number of failures since (a broken plugin fails on
   * every record).
   */
  void failed(IsolatedObservation.Phase phase, Throwable failure) {
    Reported r = reported.get(phase);
    long now = System.nanoTime();
    long since;
    synchronized (r) {
      r.since++;
      if (r.logged && now - r.lastLogNanos < LOG_INTERVAL_NANOS) {
        return;
      }
      r.logged = true;
      r.lastLogNanos = now;
      since = r.since;
      r.since = 0;
    }
    log.warn(
        "consumer {}: an observation handler or convention of its ObservationRegistry failed on"
            + " {} ({} failure(s) since the last report, counted in idem.observation.failures);"
            + " records are processed as usual, their observations may be missing or incomplete",
        consumerName,
        phase.tag(),
        since,
        failure);
  }

  /** The log state of one phase. */
  private static final class Reported {
    boolean logged;
    long lastLogNanos;
    long since;
  }

  /**
   * Puts the trace and span ids of {@code observation} (null when off) into the MDC, or, without a
   * tracer, the trace id of {@code record}'s {@code traceparent} header; removes them when there is
   * neither. The caller removes them with {@link #clearMdc()} when its log lines are written.
   */
  public static void toMdc(Observation observation, ConsumerRecord<byte[], byte[]> record) {
    String[] ids = observation == null ? null : TraceIds.of(observation);
    if (ids == null && record != null) {
      Traceparent t = Traceparent.fromHeaders(record.headers(), Traceparent.HEADER);
      ids = t == null ? null : new String[] {t.traceId(), null};
    }
    if (ids == null) {
      clearMdc();
      return;
    }
    MDC.put(MDC_TRACE_ID, ids[0]);
    if (ids[1] == null) {
      MDC.remove(MDC_SPAN_ID);
    } else {
      MDC.put(MDC_SPAN_ID, ids[1]);
    }
  }

  /** Removes what {@link #toMdc} put. */
  public static void clearMdc() {
    MDC.remove(MDC_TRACE_ID);
    MDC.remove(MDC_SPAN_ID);
  }

  /** The trace id in the MDC, or {@code "none"}: for the text of give-up and dead-letter logs. */
  public static String traceIdForLog() {
    String id = MDC.get(MDC_TRACE_ID);
    return id == null ? "none" : id;
  }
}
