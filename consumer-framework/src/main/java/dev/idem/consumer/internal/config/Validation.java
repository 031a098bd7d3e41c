package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.RetryPolicy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Builds a configuration's values from what was set: every setting of {@link Settings#ALL} read or
 * checked, the defaults that depend on other settings derived, the Kafka properties completed, the
 * rules between settings applied. Every refusal is collected, so one build names every key to fix.
 */
public final class Validation {
  private final Map<String, Object> values = new LinkedHashMap<>();
  private final Map<String, IdemConfigException> refused = new LinkedHashMap<>();

  private Validation() {}

  /**
   * The validated values.
   *
   * @param values every setting's value by key (null where off or absent), unmodifiable
   * @param kafka the Kafka consumer properties, completed with idem's own
   * @param retry the retry policy of the {@code consumer.retry.*} settings
   */
  public record Result(Map<String, Object> values, Map<String, Object> kafka, RetryPolicy retry) {}

  /**
   * Validates {@code entries} (by key: a {@link RawValue}, or a typed value as a typed setter gave
   * it) and the Kafka properties {@code kafka}.
   *
   * @param ownPool whether {@code pg.url} is set: without it the other {@code pg.*} settings mean
   *     nothing and are neither read nor checked
   * @throws IdemConfigException naming every refused key, the first in table order as its {@link
   *     IdemConfigException#key()}
   */
  public static Result run(Map<String, Object> entries, Map<String, ?> kafka, boolean ownPool) {
    Validation v = new Validation();
    List<Setting<?>> derived = new ArrayList<>();
    for (Setting<?> setting : Settings.ALL) {
      String key = setting.key();
      if (key.startsWith("pg.") && !ownPool) {
        v.values.put(key, null);
      } else if (entries.containsKey(key)) {
        Object given = entries.get(key);
        v.attempt(
            key,
            () ->
                given instanceof RawValue raw
                    ? setting.parse(raw.text())
                    : setting.checkAny(given));
      } else if (Settings.isDerived(setting)) {
        derived.add(setting);
      } else {
        v.values.put(key, setting.defaultValue());
      }
    }
    for (Setting<?> setting : derived) {
      if (Settings.canDerive(setting, v.values)) {
        v.values.put(setting.key(), Settings.derive(setting, v.values));
      }
    }
    String name = v.get(Settings.NAME);
    KafkaClientProperties.Consumer client =
        v.check(
            () -> {
              KafkaClientProperties.refuseDeserializers(kafka);
              return KafkaClientProperties.consumer(name == null ? "consumer" : name, kafka);
            });
    RetryPolicy retry =
        v.valid(
                Settings.RETRY_MAX_ATTEMPTS,
                Settings.RETRY_INITIAL_BACKOFF,
                Settings.RETRY_MAX_BACKOFF,
                Settings.RETRY_MULTIPLIER,
                Settings.RETRY_JITTER)
            ? v.check(
                () ->
                    new RetryPolicy(
                        v.get(Settings.RETRY_MAX_ATTEMPTS),
                        v.get(Settings.RETRY_INITIAL_BACKOFF),
                        v.get(Settings.RETRY_MAX_BACKOFF),
                        v.get(Settings.RETRY_MULTIPLIER),
                        v.get(Settings.RETRY_JITTER)))
            : null;
    v.rules(client, ownPool);
    if (!v.refused.isEmpty()) {
      throw IdemConfigException.all(new ArrayList<>(v.refused.values()));
    }
    return new Result(Collections.unmodifiableMap(v.values), client.properties(), retry);
  }

  /** The rules between settings, each applied when the settings it reads are valid. */
  private void rules(KafkaClientProperties.Consumer client, boolean ownPool) {
    if (valid(Settings.PROCESSED_TABLE, Settings.DEAD_LETTER_TABLE)) {
      apply(
          () -> Rules.tablesDiffer(get(Settings.PROCESSED_TABLE), get(Settings.DEAD_LETTER_TABLE)));
    }
    if (valid(Settings.DEAD_LETTER_TOPIC, Settings.TOPICS)) {
      apply(() -> DeadLetterTopics.checkFor(get(Settings.DEAD_LETTER_TOPIC), get(Settings.TOPICS)));
    }
    if (valid(Settings.LOCK_TIMEOUT, Settings.HANDLER_TIMEOUT)) {
      apply(() -> Rules.timeouts(get(Settings.LOCK_TIMEOUT), get(Settings.HANDLER_TIMEOUT)));
    }
    if (client != null && valid(Settings.DRAIN_TIMEOUT)) {
      apply(
          () ->
              Rules.drainWithinPollInterval(
                  get(Settings.DRAIN_TIMEOUT), client.maxPollIntervalMs()));
    }
    if (client != null && valid(Settings.MAX_IN_FLIGHT, Settings.MAX_IN_FLIGHT_PER_PARTITION)) {
      apply(
          () ->
              Rules.inFlight(
                  get(Settings.MAX_IN_FLIGHT),
                  get(Settings.MAX_IN_FLIGHT_PER_PARTITION),
                  client.maxPollRecords()));
    }
    if (ownPool && valid(Settings.PG_POOL_SIZE, Settings.CONCURRENCY)) {
      apply(
          () -> Rules.poolHoldsConcurrency(get(Settings.PG_POOL_SIZE), get(Settings.CONCURRENCY)));
    }
    if (valid(Settings.TRANSACTION_MAX_RECORDS)) {
      apply(() -> Rules.transactionMaxRecords(get(Settings.TRANSACTION_MAX_RECORDS)));
    }
  }

  @SuppressWarnings("unchecked")
  private <T> T get(Setting<T> setting) {
    return (T) values.get(setting.key());
  }

  /** Whether every one of {@code settings} has a value that was not refused. */
  private boolean valid(Setting<?>... settings) {
    for (Setting<?> s : settings) {
      if (!values.containsKey(s.key())) {
        return false;
      }
    }
    return true;
  }

  /** Reads or checks one setting's value; a refusal is kept, and the setting left without one. */
  private void attempt(String key, Supplier<Object> value) {
    try {
      values.put(key, value.get());
    } catch (IdemConfigException e) {
      refuse(e);
    }
  }

  /** Runs a check; its refusal is kept. Returns the check's result, or null when refused. */
  private <T> T check(Supplier<T> check) {
    try {
      return check.get();
    } catch (IdemConfigException e) {
      refuse(e);
      return null;
    }
  }

  private void apply(Runnable rule) {
    check(
        () -> {
          rule.run();
          return null;
        });
  }

  /** Keeps the first refusal of each key. */
  private void refuse(IdemConfigException e) {
    refused.putIfAbsent(e.key(), e);
  }
}
