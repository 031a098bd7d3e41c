package dev.idem.testkit.pg.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PgWireTest {

  @ParameterizedTest
  @ValueSource(
      strings = {
        "COMMIT",
        "commit;",
        "  Commit  ;  ",
        "END",
        "end transaction",
        "COMMIT WORK",
        "COMMIT AND CHAIN",
        "commit transaction and no chain;",
        "END\n WORK\tAND CHAIN",
        "COMMIT PREPARED 'tx-1'",
        "commit prepared 'it''s';"
      })
  void commitStatementsAreRecognised(String sql) {
    assertThat(PgWire.isCommit(sql)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "ROLLBACK",
        "ABORT",
        "COMMITTED",
        "COMMIT;;",
        "COMMIT; SELECT 1",
        "INSERT INTO t VALUES (1); COMMIT",
        "SELECT 'COMMIT'",
        "COMMIT PREPARED",
        "ROLLBACK PREPARED 'tx-1'",
        "END IF",
        "/* c */ COMMIT"
      })
  void otherStatementsAreNot(String sql) {
    assertThat(PgWire.isCommit(sql)).isFalse();
  }

  @Test
  void onlyCommitTagsCountAsCommitted() {
    assertThat(PgWire.committed("COMMIT")).isTrue();
    assertThat(PgWire.committed("COMMIT PREPARED")).isTrue();
    assertThat(PgWire.committed("ROLLBACK")).isFalse();
    assertThat(PgWire.committed(null)).isFalse();
  }

  @Test
  void fieldsStopAtAMissingTerminator() {
    PgWire.Fields fields = new PgWire.Fields(new byte[] {'S', '_', '1', 0, 'C', 'O'});
    assertThat(fields.next()).isEqualTo("S_1");
    assertThat(fields.next()).isNull();
    assertThat(fields.nextByte()).isEqualTo(-1);
  }
}
