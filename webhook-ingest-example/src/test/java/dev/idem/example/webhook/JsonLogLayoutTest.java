package dev.idem.example.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The example's JSON log layout ({@code -Dlogback.configurationFile=logback-json.xml}) writes one
 * JSON object per line that carries the record's MDC, so a log pipeline can index the event id.
 */
class JsonLogLayoutTest {
  @Test
  void aLineIsOneJsonObjectWithTheMessageLevelAndTheRecordsMdc() throws Exception {
    LoggerContext context = new LoggerContext();
    JoranConfigurator configurator = new JoranConfigurator();
    configurator.setContext(context);
    configurator.doConfigure(getClass().getResource("/logback-json.xml"));
    Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    OutputStreamAppender<ch.qos.logback.classic.spi.ILoggingEvent> out =
        (OutputStreamAppender<ch.qos.logback.classic.spi.ILoggingEvent>) root.getAppender("OUT");
    assertThat(out).as("the OUT appender of logback-json.xml").isNotNull();

    Logger logger = context.getLogger("dev.idem.consumer.internal.dispatch.RecordTask");
    LoggingEvent event =
        new LoggingEvent(
            Logger.class.getName(),
            logger,
            Level.WARN,
            "giving up after {} attempts",
            new IllegalStateException("ledger row locked"),
            new Object[] {5});
    // What the consumer's MDC holds while it processes a record.
    event.setMDCPropertyMap(
        Map.of(
            "idem.consumer", "webhooks", "idem.record", "webhooks-2@41", "idem.event_id", "e-7"));
    String line = new String(out.getEncoder().encode(event), StandardCharsets.UTF_8);
    context.stop();

    assertThat(line.strip()).doesNotContain("\n");
    JsonNode json = new ObjectMapper().readTree(line);
    assertThat(json.path("level").asText()).isEqualTo("WARN");
    assertThat(json.path("loggerName").asText()).isEqualTo(logger.getName());
    assertThat(json.path("formattedMessage").asText()).isEqualTo("giving up after 5 attempts");
    assertThat(json.path("mdc").path("idem.event_id").asText()).isEqualTo("e-7");
    assertThat(json.path("mdc").path("idem.record").asText()).isEqualTo("webhooks-2@41");
    assertThat(json.path("throwable").path("className").asText())
        .isEqualTo(IllegalStateException.class.getName());
  }
}
