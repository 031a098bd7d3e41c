package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.idem.testkit.TestInfrastructure;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operations pack cannot rot: every series that a query of the Grafana dashboard ({@code
 * ops/grafana}) or of the Prometheus alert rules ({@code ops/prometheus}) names must be in a
 * Prometheus scrape of a running consumer's registry, which holds idem's meters, the Kafka
 * consumer's and dead-letter producer's client metrics and the pool's Hikari meters. A renamed
 * meter fails this test until the queries follow it.
 */
class OpsPackTest {
  private static final Path OPS = Path.of("..", "ops");
  private static final Pattern SERIES = Pattern.compile("\\b(?:idem|hikaricp|kafka)_[a-z0-9_]+");
  private static final Set<String> scraped = new TreeSet<>();

  @BeforeAll
  static void scrapeARunningConsumer() throws Exception {
    String name = TestInfrastructure.uniqueName("opspack");
    String effects = name.replace('-', '_');
    String deadLetters = name + "-dead";
    INFRA.createTopics(1, name, deadLetters);
    createEffectsTable(effects);
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (IdempotentConsumer<String> consumer =
        DashboardMetersTest.meteredConsumer(name, effects, deadLetters, registry)) {
      consumer.start();
      send(
          List.of(
              record(name, 0, "k", "e1", "one"),
              record(name, 0, "k", "e1", "one"),
              record(name, 0, "k", "e2", "poison")));
      awaitTrue(
          Duration.ofSeconds(30),
          "applied, skipped and dead-lettered",
          () -> {
            var s = consumer.snapshot();
            return s.processed() == 1 && s.duplicates() == 1 && s.deadLettered() == 1;
          });
      // The lag gauges come with the first fetch that knows a partition's end.
      awaitTrue(
          Duration.ofSeconds(30),
          "the lag gauge",
          () -> seriesNames(registry.scrape()).contains("idem_consumer_lag"));
      scraped.addAll(seriesNames(registry.scrape()));
    }
  }

  @Test
  void everySeriesTheDashboardQueriesIsPublished() throws Exception {
    List<String> queries = new ArrayList<>();
    try (Stream<Path> files = Files.list(OPS.resolve("grafana"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".json")).toList()) {
        JsonNode dashboard = new ObjectMapper().readTree(f.toFile());
        assertThat(dashboard.path("panels").size()).as("panels of %s", f).isGreaterThan(5);
        dashboard.findValues("expr").forEach(e -> queries.add(e.asText()));
      }
    }
    assertThat(queries).as("dashboard queries").hasSizeGreaterThan(10);
    assertEveryNamedSeriesIsScraped(queries);
  }

  @Test
  void everySeriesTheAlertRulesQueryIsPublishedAndEveryAlertSaysWhatToDo() throws Exception {
    List<String> queries = new ArrayList<>();
    try (Stream<Path> files = Files.list(OPS.resolve("prometheus"))) {
      for (Path f : files.filter(p -> p.toString().endsWith("-rules.yml")).toList()) {
        for (JsonNode group : new YAMLMapper().readTree(f.toFile()).path("groups")) {
          for (JsonNode rule : group.path("rules")) {
            String alert = rule.path("alert").asText();
            assertThat(alert).as("a rule of %s without a name", f).isNotBlank();
            assertThat(rule.path("labels").path("severity").asText())
                .as("severity of %s", alert)
                .isIn("page", "ticket");
            assertThat(rule.path("annotations").path("summary").asText())
                .as("summary of %s", alert)
                .isNotBlank();
            assertThat(rule.path("annotations").path("action").asText())
                .as("what to do about %s", alert)
                .isNotBlank();
            queries.add(rule.path("expr").asText());
          }
        }
      }
    }
    assertThat(queries).as("alert rules").hasSizeGreaterThan(5);
    assertEveryNamedSeriesIsScraped(queries);
  }

  private static Set<String> seriesNames(String scrape) {
    Set<String> names = new TreeSet<>();
    for (String line : scrape.split("\n")) {
      if (!line.isBlank() && !line.startsWith("#")) {
        int end = line.indexOf('{');
        names.add(line.substring(0, end < 0 ? line.indexOf(' ') : end));
      }
    }
    return names;
  }

  private static void assertEveryNamedSeriesIsScraped(List<String> queries) {
    Set<String> named = new TreeSet<>();
    for (String q : queries) {
      Matcher m = SERIES.matcher(q);
      while (m.find()) {
        named.add(m.group());
      }
    }
    assertThat(named).as("series named by the queries").isNotEmpty();
    assertThat(scraped)
        .as("series a running consumer publishes (the queries name %s)", named)
        .containsAll(named);
  }
}
