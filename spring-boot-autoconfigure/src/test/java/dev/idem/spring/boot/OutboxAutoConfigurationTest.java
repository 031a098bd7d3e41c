package dev.idem.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.idem.consumer.EventHandler;
import dev.idem.consumer.outbox.Outbox;
import dev.idem.consumer.outbox.OutboxRecord;
import dev.idem.testkit.TestInfrastructure;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/**
 * The outbox in a Boot application on the testkit's servers: a handler publishes through the {@link
 * Outbox} bean, a {@code @Transactional} service publishes on Spring's connection (and a
 * rolled-back one publishes nothing), the relay started with the context sends them with their
 * event ids, and its health shows a leader.
 */
class OutboxAutoConfigurationTest {
  static final TestInfrastructure INFRA = TestInfrastructure.shared();

  @Test
  void handlersAndTransactionalServicesPublishThroughTheOutboxAndTheRelaySendsOnce()
      throws Exception {
    String name = TestInfrastructure.uniqueName("springoutbox");
    String in = name + "-in";
    String out = name + "-out";
    INFRA.createTopics(1, in, out);
    SpringApplicationBuilder app =
        new SpringApplicationBuilder(OutboxApp.class).web(WebApplicationType.NONE);
    app.properties(TestApps.infrastructure(INFRA));
    app.properties(
        "spring.application.name=" + name,
        "idem.outbox.enabled=true",
        "idem.outbox.table=" + name.replace('-', '_'),
        "idem.outbox.relay.poll-interval=20ms",
        "idem.consumers.announcer.topics=" + in,
        "idem.consumers.announcer.event-id=header:webhook-id",
        "outbox.test.topic=" + out);
    try (ConfigurableApplicationContext context = app.run()) {
      Refunds refunds = context.getBean(Refunds.class);
      refunds.refund("r-1", out, false);
      assertThatThrownBy(() -> refunds.refund("r-2", out, true))
          .isInstanceOf(IllegalStateException.class);
      try (KafkaProducer<String, String> producer =
          new KafkaProducer<>(
              Map.of("bootstrap.servers", INFRA.kafka().bootstrapServers()),
              new StringSerializer(),
              new StringSerializer())) {
        for (String id : List.of("e-1", "e-2", "e-1")) {
          ProducerRecord<String, String> r = new ProducerRecord<>(in, "k", id);
          r.headers().add("webhook-id", id.getBytes(StandardCharsets.UTF_8));
          producer.send(r).get();
        }
      }
      Map<String, String> published = new HashMap<>();
      await()
          .atMost(Duration.ofSeconds(30))
          .until(
              () -> {
                readAll(out).forEach(r -> published.put(eventId(r), r.value()));
                return published.size() >= 3;
              });
      assertThat(published)
          .containsOnlyKeys(
              "r-1",
              Outbox.derivedEventId("announcer", "e-1", "applied"),
              Outbox.derivedEventId("announcer", "e-2", "applied"));
      assertThat(readAll(out)).as("each sent once").hasSize(3);

      HealthIndicator health =
          context.getBean("idemOutboxRelayHealthIndicator", HealthIndicator.class);
      assertThat(health.health().getStatus()).isEqualTo(Status.UP);
      assertThat(health.health().getDetails())
          .containsEntry("leader", true)
          .containsEntry("relay", name);
    }
  }

  @Test
  void aRelayWithoutABrokerOrANameAndABadTableNameAreRefusedByProperty() {
    ApplicationContextRunner runner =
        new ApplicationContextRunner()
            .withConfiguration(
                AutoConfigurations.of(
                    DataSourceAutoConfiguration.class, IdemAutoConfiguration.class))
            .withPropertyValues(
                "spring.datasource.url=" + INFRA.postgres().jdbcUrl(),
                "spring.datasource.username=" + INFRA.postgres().user(),
                "spring.datasource.password=" + INFRA.postgres().password(),
                "idem.outbox.enabled=true");
    runner.run(
        context ->
            assertThat(context)
                .getFailure()
                .hasStackTraceContaining("spring.kafka.bootstrap-servers")
                .hasStackTraceContaining("idem.outbox.relay.enabled=false"));
    runner
        .withPropertyValues("spring.kafka.bootstrap-servers=127.0.0.1:1")
        .run(
            context ->
                assertThat(context)
                    .getFailure()
                    .hasStackTraceContaining("idem.outbox.relay.name")
                    .hasStackTraceContaining("set spring.application.name"));
    runner
        .withPropertyValues("idem.outbox.relay.enabled=false")
        .run(
            context -> {
              assertThat(context).hasNotFailed().hasSingleBean(Outbox.class);
              assertThat(context).doesNotHaveBean("idemOutboxRelay");
            });
    runner
        .withPropertyValues("idem.outbox.table=Outbox; DROP")
        .run(
            context ->
                assertThat(context)
                    .getFailure()
                    .hasStackTraceContaining("idem.outbox.table")
                    .hasStackTraceContaining("lower-case SQL identifier"));
  }

  private static String eventId(ConsumerRecord<String, String> r) {
    return new String(
        r.headers().lastHeader(Outbox.EVENT_ID_HEADER).value(), StandardCharsets.UTF_8);
  }

  private static List<ConsumerRecord<String, String>> readAll(String topic) {
    try (KafkaConsumer<String, String> reader =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                INFRA.kafka().bootstrapServers(),
                "isolation.level",
                "read_committed",
                "enable.auto.commit",
                false),
            new StringDeserializer(),
            new StringDeserializer())) {
      TopicPartition tp = new TopicPartition(topic, 0);
      reader.assign(List.of(tp));
      reader.seekToBeginning(List.of(tp));
      long end = reader.endOffsets(List.of(tp)).get(tp);
      List<ConsumerRecord<String, String>> all = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (reader.position(tp) < end && System.nanoTime() < deadline) {
        reader.poll(Duration.ofMillis(100)).forEach(all::add);
      }
      return all;
    }
  }

  @SpringBootConfiguration
  @EnableAutoConfiguration
  @Import(Refunds.class)
  static class OutboxApp {
    /** Announces each applied event on the test's topic. */
    @Bean
    EventHandler<String> announcer(
        Outbox outbox, org.springframework.core.env.Environment environment) {
      String topic = environment.getRequiredProperty("outbox.test.topic");
      return (payload, ctx) ->
          outbox.publish(
              ctx, "applied", topic, ctx.key(), payload.getBytes(StandardCharsets.UTF_8));
    }
  }

  /** Publishes on the connection of Spring's transaction, outside any handler. */
  @Service
  static class Refunds {
    private final Outbox outbox;
    private final DataSource dataSource;

    Refunds(Outbox outbox, DataSource dataSource) {
      this.outbox = outbox;
      this.dataSource = dataSource;
    }

    @Transactional
    public void refund(String id, String topic, boolean fail) throws SQLException {
      outbox.publish(
          DataSourceUtils.getConnection(dataSource),
          OutboxRecord.of(id, topic, null, id.getBytes(StandardCharsets.UTF_8)));
      if (fail) {
        throw new IllegalStateException("rolled back after publishing");
      }
    }
  }
}
