package dev.idem.testkit.pg.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CommitLocatorTest {
  private final CommitLocator locator = new CommitLocator(1);

  @Test
  void aNamedCommitStatementIsRecognisedEachTimeItIsBoundAgain() {
    send('P', "S_1", "COMMIT");
    send('B', "", "S_1");
    assertThat(send('E', "")).isEqualTo(new CommitLocator.ReplyPosition(1, 0));
    send('S');
    send('Q', "BEGIN");
    send('P', "", "INSERT INTO t VALUES (1)");
    send('B', "", "");
    assertThat(send('E', "")).isNull();
    send('S');
    send('B', "", "S_1");
    assertThat(send('E', "")).isEqualTo(new CommitLocator.ReplyPosition(4, 0));
  }

  @Test
  void aCommitBehindOtherExecutesInItsGroupIsCountedFromZero() {
    send('P', "", "INSERT INTO t VALUES (1)");
    send('B', "", "");
    send('E', "");
    send('P', "", "end;");
    send('B', "", "");
    assertThat(send('E', "")).isEqualTo(new CommitLocator.ReplyPosition(1, 1));
  }

  @Test
  void simpleQueriesEndTheirGroup() {
    assertThat(send('Q', "SELECT 1")).isNull();
    assertThat(send('Q', "COMMIT")).isEqualTo(new CommitLocator.ReplyPosition(2, 0));
    assertThat(send('Q', "INSERT INTO t VALUES (1); COMMIT")).isNull();
  }

  @Test
  void aClosedOrReplacedStatementIsNoLongerACommit() {
    send('P', "S_1", "COMMIT");
    send('C', "S", "S_1");
    send('B', "", "S_1");
    assertThat(send('E', "")).isNull();
    send('P', "S_2", "COMMIT");
    send('P', "S_2", "SELECT 1");
    send('B', "", "S_2");
    assertThat(send('E', "")).isNull();
  }

  /** Passes a message whose body is the given NUL-terminated strings ('C' takes a kind byte). */
  private CommitLocator.ReplyPosition send(char type, String... strings) {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    for (int i = 0; i < strings.length; i++) {
      body.writeBytes(strings[i].getBytes(StandardCharsets.UTF_8));
      if (!(type == 'C' && i == 0)) {
        body.write(0);
      }
    }
    return locator.onMessage(type, body.toByteArray());
  }
}
