package dev.idem.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.SettingInfo;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The shipped configuration metadata is what {@link ConfigurationMetadata} generates from idem's
 * settings table. After a change to the table, regenerate it with {@code mvn -pl
 * spring-boot-autoconfigure -am verify -Dtest=ConfigurationMetadataTest
 * -Dsurefire.failIfNoSpecifiedTests=false -Didem.metadata.write=true}.
 */
class ConfigurationMetadataTest {
  private static final Path SHIPPED =
      Path.of("src", "main", "resources", ConfigurationMetadata.FILE);

  @Test
  void theShippedMetadataIsTheOneGeneratedFromTheSettingsTable() throws Exception {
    String generated = ConfigurationMetadata.render();
    if (Boolean.getBoolean("idem.metadata.write")) {
      Files.writeString(SHIPPED, generated, StandardCharsets.UTF_8);
    }
    assertThat(Files.readString(SHIPPED, StandardCharsets.UTF_8))
        .as("%s is stale: regenerate it (see this test's javadoc)", SHIPPED)
        .isEqualTo(generated);
  }

  @Test
  void everyConsumerSettingIsDescribedWithItsDefaultAndEveryDescribedKeyIsBound() throws Exception {
    JsonNode metadata = new ObjectMapper().readTree(SHIPPED.toFile());
    Set<String> names = new HashSet<>();
    metadata.get("properties").forEach(p -> names.add(p.get("name").asText()));
    for (SettingInfo s : IdemConfig.settings()) {
      if (s.key().startsWith("consumer.") && !s.key().equals("consumer.name")) {
        String name = "idem.defaults." + s.key().substring("consumer.".length());
        assertThat(names).contains(name);
        metadata
            .get("properties")
            .forEach(
                p -> {
                  if (p.get("name").asText().equals(name)) {
                    assertThat(p.get("description").asText()).contains(s.defaultText());
                  }
                });
      }
    }
    // The starter's own keys are the ones the property reader knows.
    for (String own : ConsumerDefinitions.OWN_KEYS) {
      if (!own.equals("enabled") && !own.equals("handler") && !own.equals("payloads")) {
        assertThat(names).contains("idem.defaults." + own);
      }
    }
  }
}
