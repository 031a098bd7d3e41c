package dev.idem.consumer;

import static dev.idem.consumer.IdemTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A broken tracing plugin: an observation handler registered on the consumer's {@code
 * ObservationRegistry} that throws when idem's observations start or stop. Processing must not
 * depend on it: each record is applied once, no attempt fails, the offset moves on, and the
 * failures are counted.
 */
class ObservationFailureTest {
  private static final int RECORDS = 5;

  @RegisterExtension final Closer closer = new Closer();

  /** Throws in {@code onStart} or {@code onStop} of every observation. */
  private static final class BrokenHandler implements ObservationHandler<Observation.Context> {
    private final String phase;
    final AtomicInteger thrown = new AtomicInteger();

    BrokenHandler(String phase) {
      this.phase = phase;
    }

    @Override
    public void onStart(Observation.Context context) {
      fail("start");
    }

    @Override
    public void onStop(Observation.Context context) {
      fail("stop");
    }

    private void fail(String when) {
      if (phase.equals(when)) {
        thrown.incrementAndGet();
        throw new IllegalStateException("the tracing plugin fails on " + when);
      }
    }

    @Override
    public boolean supportsContext(Observation.Context context) {
      return true;
    }
  }

  @ParameterizedTest(name = "{0} in {1} mode")
  @CsvSource({"start, record", "stop, record", "start, batch", "stop, batch"})
  void anObservationHandlerThatThrowsNeitherFailsNorRepeatsARecordAndIsCounted(
      String phase, String mode) throws Exception {
    String name = TestInfrastructure.uniqueName("obs-" + phase + "-" + mode);
    INFRA.createTopics(1, name);
    String effects = name.replace('-', '_');
    createEffectsTable(effects);
    BrokenHandler broken = new BrokenHandler(phase);
    ObservationRegistry observations = ObservationRegistry.create();
    observations.observationConfig().observationHandler(broken);
    MeterRegistry meters = new SimpleMeterRegistry();
    IdempotentConsumer.Builder<String> builder =
        consumerBuilder(
                config(name, name).batchSize(RECORDS).build(), Payloads.utf8(), closer.add(pool(4)))
            .observationRegistry(observations)
            .meterRegistry(meters);
    if (mode.equals("batch")) {
      builder.batchHandler(
          (events, ctx) -> {
            for (BatchEvent<String> e : events) {
              try (var ps =
                  ctx.connection()
                      .prepareStatement(
                          "INSERT INTO " + effects + " (event_id, payload) VALUES (?, ?)")) {
                ps.setString(1, e.eventId());
                ps.setString(2, e.payload());
                ps.executeUpdate();
              }
            }
          });
    } else {
      builder.handler((value, ctx) -> insertEffect(effects, value, ctx));
    }
    IdempotentConsumer<String> consumer = closer.add(builder.build());
    consumer.start();
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < RECORDS; i++) {
      records.add(record(name, 0, "k", "o" + i, "v" + i));
    }
    send(records);
    TopicPartition tp = new TopicPartition(name, 0);
    awaitTrue(
        Duration.ofSeconds(30),
        "committed past every record",
        () -> Long.valueOf(RECORDS).equals(consumer.snapshot().committed().get(tp)));

    assertThat(count("SELECT count(*) FROM " + effects)).isEqualTo(RECORDS);
    assertThat(count("SELECT count(DISTINCT event_id) FROM " + effects)).isEqualTo(RECORDS);
    assertThat(consumer.snapshot().processed()).isEqualTo(RECORDS);
    assertThat(consumer.snapshot().duplicates()).as("never re-run").isZero();
    assertThat(consumer.snapshot().failures()).isZero();
    assertThat(consumer.snapshot().retries()).isZero();
    assertThat(count("SELECT count(*) FROM idem.dead_letters WHERE consumer_name = ?", name))
        .isZero();
    Counter failures =
        meters
            .find("idem.observation.failures")
            .tag("consumer", name)
            .tag("topic", name)
            .tag("phase", phase)
            .counter();
    assertThat(failures).as("idem.observation.failures{phase=%s}", phase).isNotNull();
    assertThat(failures.count()).isEqualTo(broken.thrown.get()).isPositive();
  }
}
