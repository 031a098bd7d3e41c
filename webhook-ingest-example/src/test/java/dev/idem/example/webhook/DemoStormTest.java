package dev.idem.example.webhook;

import static dev.idem.example.webhook.ExampleTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DemoStormTest {

  @Test
  void theDuplicateStormEndsWithAnExactLedger() throws Exception {
    String name = TestInfrastructure.uniqueName("storm");
    ExampleConfig config = config(name);
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    Demo.Summary s;
    try (WebhookApplication app = start(config)) {
      s =
          new Demo(app, 400, 40, 7L, name, new PrintStream(text, true, StandardCharsets.UTF_8))
              .run();
    }
    String output = text.toString(StandardCharsets.UTF_8);
    assertThat(s.pass()).as(output).isTrue();
    assertThat(output).contains("RESULT: PASS");
    assertThat(s.statuses().keySet()).isEqualTo(Set.of(202));
    assertThat(s.deliveries()).isGreaterThan(400);
    assertThat(s.viaReplayPath()).isPositive();
    assertThat(s.delayed()).isPositive();
    assertThat(s.rebalanced()).isTrue();
    int applicable = s.uniqueEvents() - s.unknownTypeEvents();
    assertThat(s.ledgerRows()).isEqualTo(applicable);
    assertThat(s.distinctLedgerEvents()).isEqualTo(applicable);
    assertThat(s.processed()).isEqualTo(applicable);
    assertThat(s.deadLetterRows()).isEqualTo(s.unknownTypeEvents());
    assertThat(s.processed() + s.duplicates() + s.deadLettered())
        .isGreaterThanOrEqualTo(s.deliveries());
    assertThat(s.balanceMismatches()).isZero();
    assertThat(
            count(
                "SELECT count(*) FROM ledger.entries WHERE event_id LIKE 'msg\\_" + name + "\\_%'"))
        .isEqualTo(applicable);
  }
}
