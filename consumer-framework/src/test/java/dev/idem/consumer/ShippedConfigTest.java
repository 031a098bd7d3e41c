package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ShippedConfigTest {

  @Test
  void theDocumentedConfigFileLoadsAndValidates() {
    IdemConfig config =
        IdemConfig.load(Path.of("..", "config", "idem.properties"), Map.of()).build();
    assertThat(config.consumerName()).isEqualTo("ledger-writer");
    assertThat(config.topics()).containsExactly("webhooks");
    assertThat(config.database().url()).isEqualTo("jdbc:postgresql://localhost:5432/postgres");
  }
}
