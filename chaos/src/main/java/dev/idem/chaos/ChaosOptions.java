package dev.idem.chaos;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The settings of one chaos run. Everything random in a run (the workload, the order and timing of
 * faults, which consumer a fault hits) follows from {@link #seed()}, so a failing run is replayed
 * by passing its seed again.
 *
 * @param label the scenario's name in logs and reports
 * @param seed the seed of everything random
 * @param mode per-record, batch or grouped handler
 * @param offsetStore where consumers store offsets: {@code kafka} or {@code postgresql}
 * @param share whether the consumers form a share group ({@code IdempotentShareConsumer}) instead
 *     of a consumer group: no per-key order to check, and the end of the run waits until the share
 *     group has nothing left to deliver instead of for committed offsets
 * @param lockDuration share groups: the group's acquisition lock ({@code
 *     share.record.lock.duration.ms}), which is how long a killed or halted consumer's records wait
 *     before another consumer gets them
 * @param shareRenewals share groups: the group's {@code share.renew.acknowledge.enable}; whether
 *     the consumers renew the locks of records still in work, or a record whose handler outlives
 *     its lock goes to another delivery meanwhile. Unless set, drawn from the seed: every other run
 *     of a share group goes without renewals, at no cost in time, and its seed replays that choice
 * @param duration how long events are produced at least; production goes on until every listed
 *     fault ran once and the consumers had a few seconds of load after the last one
 * @param rate unique events produced per second (their copies follow them at once)
 * @param duplicateFraction the fraction of unique events that get extra copies
 * @param minCopies the fewest extra copies of a duplicated event
 * @param maxCopies the most extra copies of a duplicated event
 * @param poisonRate the fraction of unique events the handler always fails on (at least one)
 * @param swallowRate the fraction of unique events whose handler, on its first attempt, catches an
 *     SQL error after its writes and returns normally (a careless handler); zero turns it off
 * @param hangRate share groups: the fraction of unique events whose handler hangs, ignoring
 *     interrupts, past the watchdog's limit on every delivery, so that each ends dead-lettered as
 *     {@code handler-timeout} (at least one, early in the run); zero turns it off
 * @param slowFailRate share groups: the fraction of unique events whose handler sleeps past the
 *     record's lock, then fails with a retryable exception, on every delivery, so that each ends
 *     dead-lettered as {@code handler-failed} (at least one, early in the run); zero turns it off
 * @param keys how many ordering keys the events are spread over
 * @param partitions partitions of each of the two topics
 * @param consumers consumer processes
 * @param faults the faults to inject, cycled in an order drawn from the seed
 * @param firstFault when the first fault comes, after production starts
 * @param faultSpacing the least time between the starts of two faults
 * @param drainTimeout how long the end of the run waits for every partition to be committed
 * @param batchDelay batch mode: how long the handler sleeps in every batch (zero: not at all)
 * @param outbox whether the handlers also publish an outbox record per event (in the transaction of
 *     its ledger row, numbered in commit order per key) that each process's {@code OutboxRelay}
 *     sends to a third topic; the run then checks that topic too: every applied event once after
 *     deduplication on its event id, no gap and no step back in a key's numbers
 */
public record ChaosOptions(
    String label,
    long seed,
    Mode mode,
    String offsetStore,
    boolean share,
    Duration lockDuration,
    boolean shareRenewals,
    Duration duration,
    int rate,
    double duplicateFraction,
    int minCopies,
    int maxCopies,
    double poisonRate,
    double swallowRate,
    double hangRate,
    double slowFailRate,
    int keys,
    int partitions,
    int consumers,
    List<Fault> faults,
    Duration firstFault,
    Duration faultSpacing,
    Duration drainTimeout,
    Duration batchDelay,
    boolean outbox) {

  /**
   * The share of events whose handler swallows an SQL error on its first attempt, unless a run sets
   * another: enough for a few hundred such events in a suite run, few enough that retrying them
   * does not slow the consumers down.
   */
  public static final double DEFAULT_SWALLOW_RATE = 0.05;

  /**
   * The share of events whose handler hangs on every delivery, in a share group unless a run sets
   * another. Each such record keeps a consumer from acquiring for every one of its deliveries
   * (about six seconds each, five deliveries), so one in 20,000 events: one early in a bounded run,
   * a few in a ten-minute soak at 150 events per second.
   */
  public static final double DEFAULT_HANG_RATE = 1.0 / 20_000;

  /**
   * The share of events whose handler sleeps past the lock and fails on every delivery, in a share
   * group unless a run sets another; as rare as hung events, for the same reason.
   */
  public static final double DEFAULT_SLOW_FAIL_RATE = 1.0 / 20_000;

  /**
   * The fewest seconds between the starts of two faults. The run also waits, before the next fault,
   * until the system is whole again (every partition assigned, every consumer applying events), so
   * this only keeps the quick faults (a dropped COMMIT reply, terminated sessions) from coming in a
   * burst.
   */
  public static final Duration MIN_FAULT_SPACING = Duration.ofSeconds(5);

  /** How the consumers apply events. */
  public enum Mode {
    /** One transaction per record ({@code EventHandler}). */
    RECORD,
    /** Many records per transaction ({@code BatchHandler}). */
    BATCH,
    /**
     * Several records per transaction through the per-record {@code EventHandler}, each in a
     * savepoint ({@code consumer.transaction.max-records=32}).
     */
    GROUPED;

    /** The name used in options and reports. */
    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public ChaosOptions {
    Objects.requireNonNull(label, "label");
    Objects.requireNonNull(mode, "mode");
    faults = List.copyOf(faults);
    if (!offsetStore.equals("kafka") && !offsetStore.equals("postgresql")) {
      throw new IllegalArgumentException(
          "offset store '" + offsetStore + "' is not known; use kafka or postgresql");
    }
    if (share && !offsetStore.equals("kafka")) {
      throw new IllegalArgumentException(
          "a share group keeps no offsets in PostgreSQL; use offset store kafka");
    }
    if (rate < 1 || duration.toMillis() < 1000) {
      throw new IllegalArgumentException("rate must be at least 1/s and duration at least 1 s");
    }
    if (minCopies < 1 || maxCopies < minCopies) {
      throw new IllegalArgumentException("copies must satisfy 1 <= min <= max");
    }
    if (!(swallowRate >= 0 && swallowRate < 1)) {
      throw new IllegalArgumentException(
          "swallow rate " + swallowRate + " is not a fraction; use 0 (off) up to below 1");
    }
    if (!(hangRate >= 0 && hangRate < 1) || !(slowFailRate >= 0 && slowFailRate < 1)) {
      throw new IllegalArgumentException(
          "hang rate "
              + hangRate
              + " or slow-fail rate "
              + slowFailRate
              + " is not a fraction; use 0 (off) up to below 1");
    }
    if (!share && !shareRenewals) {
      throw new IllegalArgumentException(
          "share-renewals=false needs a share group (idem.chaos.group-type=share)");
    }
    if ((hangRate > 0 || slowFailRate > 0) && (!share || mode != Mode.RECORD)) {
      throw new IllegalArgumentException(
          "hung and slow-failing events need a share group in record mode"
              + " (idem.chaos.group-type=share, idem.chaos.mode=record): elsewhere such a record"
              + " would hold its key or its whole transaction of records for minutes; set"
              + " idem.chaos.hang-rate=0 and idem.chaos.slow-fail-rate=0");
    }
    if (consumers < 1 || partitions < 1 || keys < 1) {
      throw new IllegalArgumentException("consumers, partitions and keys must be positive");
    }
    if (faults.contains(Fault.RELAY_HALT) && !outbox) {
      throw new IllegalArgumentException(
          "fault relay-halt needs the outbox scenario (idem.chaos.outbox=true)");
    }
    if (faults.size() > 1 && faultSpacing.compareTo(MIN_FAULT_SPACING) < 0) {
      throw new IllegalArgumentException(
          "fault spacing " + faultSpacing + " is below the minimum of " + MIN_FAULT_SPACING);
    }
  }

  /**
   * Defaults: per-record mode, offsets in Kafka, every fault that applies, a random seed, {@value
   * #DEFAULT_SWALLOW_RATE} of the events swallowing an SQL error once; in a share group, lock
   * renewals on or off as the seed draws, and in record mode {@link #DEFAULT_HANG_RATE} of the
   * events hung and {@link #DEFAULT_SLOW_FAIL_RATE} slow-failing.
   */
  public static Builder builder(String label) {
    return new Builder(label);
  }

  /**
   * The options with {@code idem.chaos.*} system properties applied: {@code seed}, {@code
   * duration}, {@code rate}, {@code mode}, {@code group-type} ({@code consumer} or {@code share}),
   * {@code offset-store}, {@code faults} (labels, comma separated), {@code consumers}, {@code
   * swallow-rate}, {@code outbox} ({@code true}: the outbox scenario; with the default faults it
   * adds {@link Fault#RELAY_HALT}), {@code hang-rate}, {@code slow-fail-rate}, {@code
   * share-renewals} ({@code true} or {@code false}: whether the share group renews locks; by
   * default drawn from the seed).
   */
  public ChaosOptions withOverrides(Map<String, String> properties) {
    Builder b = toBuilder();
    String seed = properties.get("idem.chaos.seed");
    if (present(seed)) {
      b.seed(Long.parseLong(seed.trim()));
    }
    String duration = properties.get("idem.chaos.duration");
    if (present(duration)) {
      b.duration(parseDuration(duration));
    }
    String rate = properties.get("idem.chaos.rate");
    if (present(rate)) {
      b.rate(Integer.parseInt(rate.trim()));
    }
    String mode = properties.get("idem.chaos.mode");
    if (present(mode)) {
      b.mode(Mode.valueOf(mode.trim().toUpperCase(Locale.ROOT)));
    }
    String groupType = properties.get("idem.chaos.group-type");
    if (present(groupType)) {
      String type = groupType.trim().toLowerCase(Locale.ROOT);
      if (!type.equals("share") && !type.equals("consumer")) {
        throw new IllegalArgumentException(
            "group type '" + groupType + "' is not known; use consumer or share");
      }
      b.share(type.equals("share"));
    }
    String store = properties.get("idem.chaos.offset-store");
    if (present(store)) {
      b.offsetStore(store.trim());
    }
    String outbox = properties.get("idem.chaos.outbox");
    if (present(outbox)) {
      boolean on = Boolean.parseBoolean(outbox.trim());
      if (b.faults.equals(Fault.defaults(b.outbox))) {
        b.faults(Fault.defaults(on));
      }
      b.outbox(on);
    }
    String faults = properties.get("idem.chaos.faults");
    if (present(faults)) {
      List<Fault> list = new ArrayList<>();
      for (String f : faults.split(",")) {
        list.add(Fault.of(f));
      }
      b.faults(list);
    }
    String consumers = properties.get("idem.chaos.consumers");
    if (present(consumers)) {
      b.consumers(Integer.parseInt(consumers.trim()));
    }
    String swallowRate = properties.get("idem.chaos.swallow-rate");
    if (present(swallowRate)) {
      b.swallowRate(Double.parseDouble(swallowRate.trim()));
    }
    String hangRate = properties.get("idem.chaos.hang-rate");
    if (present(hangRate)) {
      b.hangRate(Double.parseDouble(hangRate.trim()));
    }
    String slowFailRate = properties.get("idem.chaos.slow-fail-rate");
    if (present(slowFailRate)) {
      b.slowFailRate(Double.parseDouble(slowFailRate.trim()));
    }
    String renewals = properties.get("idem.chaos.share-renewals");
    if (present(renewals)) {
      b.shareRenewals(Boolean.parseBoolean(renewals.trim()));
    }
    return b.build();
  }

  /** The options with the system properties applied; see {@link #withOverrides(Map)}. */
  public ChaosOptions withSystemProperties() {
    Map<String, String> props = new java.util.HashMap<>();
    System.getProperties().forEach((k, v) -> props.put(k.toString(), v.toString()));
    return withOverrides(props);
  }

  /** A builder holding these options. */
  public Builder toBuilder() {
    Builder b = new Builder(label);
    b.seed = seed;
    b.mode = mode;
    b.offsetStore = offsetStore;
    b.share = share;
    b.lockDuration = lockDuration;
    // A choice drawn from the seed stays a draw: it follows a seed a caller sets.
    b.shareRenewals = shareRenewals == defaultRenewals(seed, share) ? null : shareRenewals;
    b.duration = duration;
    b.rate = rate;
    b.duplicateFraction = duplicateFraction;
    b.minCopies = minCopies;
    b.maxCopies = maxCopies;
    b.poisonRate = poisonRate;
    b.swallowRate = swallowRate;
    // Rates at their defaults stay defaults: they follow the group type and mode a caller sets.
    b.hangRate = hangRate == defaultHangRate(share, mode) ? null : hangRate;
    b.slowFailRate = slowFailRate == defaultSlowFailRate(share, mode) ? null : slowFailRate;
    b.keys = keys;
    b.partitions = partitions;
    b.consumers = consumers;
    b.faults = faults;
    b.firstFault = firstFault;
    b.faultSpacing = faultSpacing;
    b.drainTimeout = drainTimeout;
    b.batchDelay = batchDelay;
    b.outbox = outbox;
    return b;
  }

  /**
   * Reads {@code 90s}, {@code 10m}, {@code 1h}, {@code 500ms} or a plain number of seconds.
   *
   * @throws IllegalArgumentException for anything else
   */
  public static Duration parseDuration(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    try {
      if (t.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
      }
      if (t.endsWith("s")) {
        return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
      }
      if (t.endsWith("m")) {
        return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
      }
      if (t.endsWith("h")) {
        return Duration.ofHours(Long.parseLong(t.substring(0, t.length() - 1)));
      }
      return Duration.ofSeconds(Long.parseLong(t));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a duration; write 90s, 10m, 1h or 500ms", e);
    }
  }

  /** A share group renews locks in every other run, as the seed draws; other groups have none. */
  private static boolean defaultRenewals(long seed, boolean share) {
    return !share || new java.util.SplittableRandom(seed ^ 0x4E3E_3A15L).nextBoolean();
  }

  private static double defaultHangRate(boolean share, Mode mode) {
    return share && mode == Mode.RECORD ? DEFAULT_HANG_RATE : 0;
  }

  private static double defaultSlowFailRate(boolean share, Mode mode) {
    return share && mode == Mode.RECORD ? DEFAULT_SLOW_FAIL_RATE : 0;
  }

  private static boolean present(String s) {
    return s != null && !s.isBlank();
  }

  /** Collects options; {@link #build()} checks them. */
  public static final class Builder {
    private final String label;
    private long seed = ThreadLocalRandom.current().nextLong();
    private Mode mode = Mode.RECORD;
    private String offsetStore = "kafka";
    private boolean share;
    private Duration lockDuration = Duration.ofSeconds(3);
    // Null: drawn from the seed by build().
    private Boolean shareRenewals;
    private Duration duration = Duration.ofSeconds(90);
    private int rate = 100;
    private double duplicateFraction = 0.3;
    private int minCopies = 2;
    private int maxCopies = 5;
    private double poisonRate = 0.001;
    private double swallowRate = DEFAULT_SWALLOW_RATE;
    // Null: the default of the group type, decided by build().
    private Double hangRate;
    private Double slowFailRate;
    private int keys = 300;
    private int partitions = 6;
    private int consumers = 3;
    private List<Fault> faults;
    private Duration firstFault = Duration.ofSeconds(6);
    private Duration faultSpacing = MIN_FAULT_SPACING;
    private Duration drainTimeout = Duration.ofSeconds(180);
    private Duration batchDelay = Duration.ZERO;
    private boolean outbox;

    private Builder(String label) {
      this.label = label;
    }

    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    public Builder mode(Mode mode) {
      this.mode = mode;
      return this;
    }

    public Builder offsetStore(String offsetStore) {
      this.offsetStore = offsetStore;
      return this;
    }

    public Builder share(boolean share) {
      this.share = share;
      return this;
    }

    public Builder lockDuration(Duration lockDuration) {
      this.lockDuration = lockDuration;
      return this;
    }

    /**
     * Whether the share group renews locks (see {@link ChaosOptions#shareRenewals()}); default
     * drawn from the seed.
     */
    public Builder shareRenewals(boolean renewals) {
      this.shareRenewals = renewals;
      return this;
    }

    public Builder duration(Duration duration) {
      this.duration = duration;
      return this;
    }

    public Builder rate(int eventsPerSecond) {
      this.rate = eventsPerSecond;
      return this;
    }

    public Builder duplicateFraction(double fraction) {
      this.duplicateFraction = fraction;
      return this;
    }

    public Builder copies(int min, int max) {
      this.minCopies = min;
      this.maxCopies = max;
      return this;
    }

    public Builder poisonRate(double rate) {
      this.poisonRate = rate;
      return this;
    }

    public Builder swallowRate(double rate) {
      this.swallowRate = rate;
      return this;
    }

    /**
     * See {@link ChaosOptions#hangRate()}; default {@link #DEFAULT_HANG_RATE} in a share group in
     * record mode, else 0.
     */
    public Builder hangRate(double rate) {
      this.hangRate = rate;
      return this;
    }

    /**
     * See {@link ChaosOptions#slowFailRate()}; default {@link #DEFAULT_SLOW_FAIL_RATE} in a share
     * group in record mode, else 0.
     */
    public Builder slowFailRate(double rate) {
      this.slowFailRate = rate;
      return this;
    }

    public Builder keys(int keys) {
      this.keys = keys;
      return this;
    }

    public Builder partitions(int partitions) {
      this.partitions = partitions;
      return this;
    }

    public Builder consumers(int consumers) {
      this.consumers = consumers;
      return this;
    }

    /** Turns the outbox scenario on or off (see {@link ChaosOptions#outbox()}). */
    public Builder outbox(boolean on) {
      this.outbox = on;
      return this;
    }

    /** The faults to inject (default: {@link Fault#defaults} for the run). */
    public Builder faults(List<Fault> faults) {
      this.faults = faults;
      return this;
    }

    public Builder faults(Fault... faults) {
      return faults(List.of(faults));
    }

    public Builder firstFault(Duration after) {
      this.firstFault = after;
      return this;
    }

    public Builder faultSpacing(Duration spacing) {
      this.faultSpacing = spacing;
      return this;
    }

    public Builder drainTimeout(Duration timeout) {
      this.drainTimeout = timeout;
      return this;
    }

    public Builder batchDelay(Duration delay) {
      this.batchDelay = delay;
      return this;
    }

    /**
     * The options.
     *
     * @throws IllegalArgumentException for an inconsistent setting
     */
    public ChaosOptions build() {
      return new ChaosOptions(
          label,
          seed,
          mode,
          offsetStore,
          share,
          lockDuration,
          shareRenewals == null ? defaultRenewals(seed, share) : shareRenewals,
          duration,
          rate,
          duplicateFraction,
          minCopies,
          maxCopies,
          poisonRate,
          swallowRate,
          hangRate == null ? defaultHangRate(share, mode) : hangRate,
          slowFailRate == null ? defaultSlowFailRate(share, mode) : slowFailRate,
          keys,
          partitions,
          consumers,
          faults == null ? Fault.defaults(outbox) : faults,
          firstFault,
          faultSpacing,
          drainTimeout,
          batchDelay,
          outbox);
    }
  }
}
