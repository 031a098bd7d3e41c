package dev.idem.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.pg.EmbeddedPostgresServer;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** Restarts need servers of their own: the shared ones may come from the environment. */
class EmbeddedRestartTest {

  @Test
  void brokerRestartKeepsCommittedOffsetsAndRecords() throws Exception {
    try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.launch()) {
      String topic = "restart";
      TestInfrastructure.createTopics(broker.bootstrapServers(), 1, Map.of(), topic);
      try (KafkaProducer<String, String> producer =
          new KafkaProducer<>(
              Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()),
              new StringSerializer(),
              new StringSerializer())) {
        for (int i = 0; i < 5; i++) {
          producer.send(new ProducerRecord<>(topic, "v" + i)).get();
        }
      }
      TopicPartition tp = new TopicPartition(topic, 0);
      try (KafkaConsumer<String, String> consumer = consumer(broker)) {
        consumer.commitSync(Map.of(tp, new OffsetAndMetadata(3)));
      }

      broker.stop();
      assertThat(dev.idem.testkit.pg.internal.Ports.listening(port(broker))).isFalse();
      broker.start();

      try (KafkaConsumer<String, String> consumer = consumer(broker)) {
        assertThat(consumer.committed(Set.of(tp), Duration.ofSeconds(30)).get(tp).offset())
            .isEqualTo(3);
        assertThat(consumer.endOffsets(List.of(tp), Duration.ofSeconds(30)).get(tp)).isEqualTo(5);
      }
    }
  }

  @Test
  void databaseRestartKeepsRows() throws SQLException {
    try (EmbeddedPostgresServer server = EmbeddedPostgresServer.launch()) {
      try (Connection c = server.dataSource().getConnection();
          Statement s = c.createStatement()) {
        s.execute("CREATE TABLE kept (id int PRIMARY KEY)");
        s.execute("INSERT INTO kept SELECT generate_series(1, 100)");
      }
      server.stop();
      assertThat(dev.idem.testkit.pg.internal.Ports.listening(server.port())).isFalse();
      server.start();
      try (Connection c = server.dataSource().getConnection();
          Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT count(*), sum(id) FROM kept")) {
        rs.next();
        assertThat(rs.getLong(1)).isEqualTo(100);
        assertThat(rs.getLong(2)).isEqualTo(5050);
      }
    }
  }

  private static int port(EmbeddedKafkaBroker broker) {
    String servers = broker.bootstrapServers();
    return Integer.parseInt(servers.substring(servers.lastIndexOf(':') + 1));
  }

  private static KafkaConsumer<String, String> consumer(EmbeddedKafkaBroker broker) {
    return new KafkaConsumer<>(
        Map.of(
            ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
            ConsumerConfig.GROUP_ID_CONFIG, "restart-group",
            ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false"),
        new StringDeserializer(),
        new StringDeserializer());
  }
}
