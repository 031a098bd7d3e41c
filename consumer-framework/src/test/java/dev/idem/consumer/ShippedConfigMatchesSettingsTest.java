package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.consumer.internal.config.Setting;
import dev.idem.consumer.internal.config.Settings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.junit.jupiter.api.Test;

/**
 * {@code config/idem.properties} is the documentation of the settings: it names every key of {@link
 * Settings} and nothing else, and a default it states (a commented-out {@code #key=value} line) is
 * the default idem applies.
 */
class ShippedConfigMatchesSettingsTest {
  private static final Path FILE = Path.of("..", "config", "idem.properties");
  private static final Pattern LINE =
      Pattern.compile("^(#?)([a-z][a-z0-9.-]*\\.[a-z0-9.-]+)=(.*)$");

  /** Key to value, for the set lines and the commented-out ones. */
  private record Lines(Map<String, String> set, Map<String, String> commented) {
    List<String> keys() {
      List<String> keys = new ArrayList<>(set.keySet());
      keys.addAll(commented.keySet());
      return keys;
    }
  }

  private static Lines lines() throws Exception {
    Map<String, String> set = new LinkedHashMap<>();
    Map<String, String> commented = new LinkedHashMap<>();
    for (String line : Files.readAllLines(FILE)) {
      Matcher m = LINE.matcher(line.trim());
      if (m.matches()) {
        (m.group(1).isEmpty() ? set : commented).put(m.group(2), m.group(3).trim());
      }
    }
    return new Lines(set, commented);
  }

  @Test
  void everyKeyInTheFileIsASettingOrAKafkaConsumerProperty() throws Exception {
    for (String key : lines().keys()) {
      if (key.startsWith("kafka.")) {
        assertThat(ConsumerConfig.configNames()).as(key).contains(key.substring(6));
      } else {
        assertThat(Settings.byKey(key)).as("%s is not in Settings", key).isNotNull();
      }
    }
  }

  @Test
  void everySettingIsDocumentedInTheFile() throws Exception {
    List<String> keys = lines().keys();
    assertThat(Settings.ALL.stream().map(Setting::key).filter(k -> !keys.contains(k)))
        .as("settings missing from %s", FILE)
        .isEmpty();
  }

  @Test
  void theDefaultsTheFileStatesAreTheTablesDefaults() throws Exception {
    Lines lines = lines();
    for (Map.Entry<String, String> e : lines.commented().entrySet()) {
      Setting<?> setting = Settings.byKey(e.getKey());
      if (setting != null && setting.defaultValue() != null) {
        assertThat(setting.parse(e.getValue()))
            .as("%s in %s", e.getKey(), FILE)
            .isEqualTo(setting.defaultValue());
      }
    }
  }

  @Test
  void uncommentingAStatedDefaultChangesNothing() throws Exception {
    // Covers the defaults that depend on other settings (the namespace is the consumer name, the
    // pool holds concurrency + 2), which the table cannot state as one value.
    Lines lines = lines();
    IdemConfig shipped = IdemConfig.fromProperties(lines.set(), Map.of()).build();
    for (Map.Entry<String, String> e : lines.commented().entrySet()) {
      if (e.getKey().equals("kafka.group.instance.id")) {
        continue; // an example: static membership is off unless an id is given
      }
      Map<String, String> uncommented = new LinkedHashMap<>(lines.set());
      uncommented.put(e.getKey(), e.getValue());
      IdemConfig changed = IdemConfig.fromProperties(uncommented, Map.of()).build();
      if (e.getKey().startsWith("kafka.")) {
        // Kafka applies its own default when the key is absent; compare what Kafka reads.
        String name = e.getKey().substring(6);
        assertThat(String.valueOf(new ConsumerConfig(changed.kafka()).values().get(name)))
            .as(e.getKey())
            .isEqualTo(String.valueOf(new ConsumerConfig(shipped.kafka()).values().get(name)));
      } else {
        assertThat(changed).as("%s=%s", e.getKey(), e.getValue()).isEqualTo(shipped);
      }
    }
  }
}
