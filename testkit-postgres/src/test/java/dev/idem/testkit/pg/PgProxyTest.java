package dev.idem.testkit.pg;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.idem.testkit.pg.internal.Ports;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The proxy against a real PostgreSQL server of its own (prepared transactions enabled). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PgProxyTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static EmbeddedPostgresServer postgres;

  private PgProxy proxy;
  private String table;

  @BeforeAll
  static void startPostgres() {
    postgres = EmbeddedPostgresServer.launch(Map.of("max_prepared_transactions", "4"));
  }

  @AfterAll
  static void stopPostgres() {
    postgres.close();
  }

  @BeforeEach
  void startProxy() throws SQLException {
    proxy = PgProxy.start("127.0.0.1", postgres.port());
    table = SharedPostgres.uniqueName("proxied");
    try (Connection c = direct();
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE " + table + " (id int PRIMARY KEY, note text)");
    }
  }

  @AfterEach
  void closeProxy() {
    proxy.close();
  }

  @Test
  void queriesAndTransactionsPassThroughUnchanged() throws SQLException {
    try (Connection c = viaProxy("&prepareThreshold=1");
        Statement s = c.createStatement()) {
      String big = "x".repeat(1_000_000);
      try (PreparedStatement ps =
          c.prepareStatement("INSERT INTO " + table + " (id, note) VALUES (?, ?)")) {
        ps.setInt(1, -1);
        ps.setString(2, big);
        ps.executeUpdate();
      }
      try (ResultSet rs = s.executeQuery("SELECT note FROM " + table + " WHERE id = -1")) {
        rs.next();
        assertThat(rs.getString(1)).isEqualTo(big);
      }
      try (ResultSet rs = s.executeQuery("SELECT sum(g) FROM generate_series(1, 100000) g")) {
        rs.next();
        assertThat(rs.getLong(1)).isEqualTo(5_000_050_000L);
      }

      c.setAutoCommit(false);
      insert(c, -2);
      c.rollback();
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?)")) {
        for (int i = 1; i <= 200; i++) {
          ps.setInt(1, i);
          ps.executeUpdate();
          c.commit();
        }
      }
      c.setAutoCommit(true);
      // The driver's COMMIT is a named server-side statement, bound again on every commit.
      assertThat(count(s, "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'COMMIT'"))
          .isEqualTo(1);
    }
    assertThat(rows("id BETWEEN 1 AND 200")).isEqualTo(200);
    assertThat(rows("id = -2")).isZero();
    assertThat(proxy.droppedCommitReplies()).isZero();
    await().atMost(WAIT).until(() -> proxy.connections() == 0);
  }

  @Test
  void droppedCommitReplyBreaksTheConnectionAfterTheServerCommitted() throws SQLException {
    proxy.dropCommitReplies(1);
    assertThat(proxy.armedCommitDrops()).isEqualTo(1);
    try (Connection c = viaProxy("")) {
      c.setAutoCommit(false);
      insert(c, 1);
      assertConnectionBroken(c::commit);
    }
    assertThat(rows("id = 1")).isEqualTo(1);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
    assertThat(proxy.armedCommitDrops()).isZero();

    try (Connection c = viaProxy("")) {
      c.setAutoCommit(false);
      insert(c, 2);
      c.commit();
    }
    assertThat(rows("id = 2")).isEqualTo(1);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
  }

  @Test
  void armedDropsAreUsedOnceEachAcrossConnections() throws SQLException {
    proxy.dropCommitReplies(2);
    try (Connection a = viaProxy("");
        Connection b = viaProxy("");
        Connection d = viaProxy("")) {
      for (Connection c : List.of(a, b, d)) {
        c.setAutoCommit(false);
      }
      insert(a, 1);
      insert(b, 2);
      insert(d, 3);
      assertConnectionBroken(a::commit);
      assertConnectionBroken(b::commit);
      d.commit();
    }
    assertThat(rows("id IN (1, 2, 3)")).isEqualTo(3);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(2);
    assertThat(proxy.armedCommitDrops()).isZero();
  }

  @Test
  void droppedReplyToAReusedNamedCommitStatement() throws SQLException {
    try (Connection c = viaProxy("&prepareThreshold=1");
        Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      for (int i = 1; i <= 5; i++) {
        insert(c, i);
        c.commit();
      }
      assertThat(count(s, "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'COMMIT'"))
          .isEqualTo(1);
      c.commit();

      proxy.dropCommitReplies(1);
      insert(c, 6);
      assertConnectionBroken(c::commit);
    }
    assertThat(rows("id BETWEEN 1 AND 6")).isEqualTo(6);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
  }

  @ParameterizedTest
  @ValueSource(strings = {"COMMIT", " end ; ", "Commit Work And Chain", "COMMIT TRANSACTION"})
  void droppedReplyToACommitStatementSentThroughTheExtendedProtocol(String commit)
      throws SQLException {
    try (Connection c = viaProxy("");
        Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      insert(c, 1);
      proxy.dropCommitReplies(1);
      assertConnectionBroken(() -> s.execute(commit));
    }
    assertThat(rows("id = 1")).isEqualTo(1);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
  }

  @Test
  void droppedReplyToACommitBehindOtherStatementsInOneBatch() throws SQLException {
    try (Connection c = viaProxy("");
        Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      s.addBatch("INSERT INTO " + table + " VALUES (1)");
      s.addBatch("INSERT INTO " + table + " VALUES (2)");
      s.addBatch("COMMIT");
      proxy.dropCommitReplies(1);
      assertConnectionBroken(s::executeBatch);
    }
    assertThat(rows("id IN (1, 2)")).isEqualTo(2);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
  }

  @Test
  void aCommitSkippedAfterAnErrorInItsBatchIsNotCounted() throws SQLException {
    try (Connection c = viaProxy("");
        Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      s.addBatch("INSERT INTO " + table + " VALUES (1)");
      s.addBatch("INSERT INTO " + table + " VALUES (1)");
      s.addBatch("COMMIT");
      proxy.dropCommitReplies(1);
      assertConnectionBroken(s::executeBatch);
    }
    assertThat(rows("id = 1")).isZero();
    assertThat(proxy.droppedCommitReplies()).isZero();
    assertThat(proxy.armedCommitDrops()).isZero();
  }

  @Test
  void droppedReplyToASimpleQueryCommit() throws SQLException {
    try (Connection c = viaProxy("&preferQueryMode=simple")) {
      c.setAutoCommit(false);
      insert(c, 1);
      proxy.dropCommitReplies(1);
      assertConnectionBroken(c::commit);
    }
    assertThat(rows("id = 1")).isEqualTo(1);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
  }

  @Test
  void droppedReplyToCommitPrepared() throws SQLException {
    String gid = table + "_gid";
    try (Connection c = viaProxy("");
        Statement s = c.createStatement()) {
      s.execute("BEGIN");
      s.execute("INSERT INTO " + table + " VALUES (1)");
      s.execute("PREPARE TRANSACTION '" + gid + "'");
      proxy.dropCommitReplies(1);
      assertConnectionBroken(() -> s.execute("COMMIT PREPARED '" + gid + "'"));
    }
    assertThat(rows("id = 1")).isEqualTo(1);
    assertThat(proxy.droppedCommitReplies()).isEqualTo(1);
  }

  @Test
  void rolledBackTransactionsAreNeverCountedAsDroppedCommits() throws SQLException {
    proxy.dropCommitReplies(1);
    try (Connection c = viaProxy("");
        Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      insert(c, 1);
      c.rollback();
      insert(c, 2);
      s.execute("ROLLBACK");
      assertThat(proxy.armedCommitDrops()).isEqualTo(1);

      // A COMMIT of a failed transaction: the server rolls back and answers ROLLBACK.
      insert(c, 3);
      assertThatThrownBy(() -> insert(c, 3)).isInstanceOf(SQLException.class);
      assertConnectionBroken(c::commit);
    }
    assertThat(rows("id IN (1, 2, 3)")).isZero();
    assertThat(proxy.droppedCommitReplies()).isZero();
    assertThat(proxy.armedCommitDrops()).isZero();
  }

  @Test
  void cutAllBreaksOpenConnectionsAndNewOnesWork() throws SQLException {
    try (Connection idle = viaProxy("");
        Connection inTransaction = viaProxy("")) {
      inTransaction.setAutoCommit(false);
      insert(inTransaction, 1);
      assertThat(proxy.connections()).isEqualTo(2);

      proxy.cutAll();

      assertThat(proxy.connections()).isZero();
      assertConnectionBroken(() -> insert(idle, 2));
      assertConnectionBroken(inTransaction::commit);
    }
    try (Connection c = viaProxy("")) {
      insert(c, 3);
    }
    assertThat(rows("id = 3")).isEqualTo(1);
    // The server's side was cut too: the session that held the uncommitted insert ends.
    await().atMost(WAIT).until(() -> !backendHoldsRowLock());
    assertThat(rows("id IN (1, 2)")).isZero();
    assertThat(proxy.droppedCommitReplies()).isZero();
  }

  @Test
  void closeReleasesThePortAndEndsItsThreads() throws SQLException {
    PgProxy other = PgProxy.start("127.0.0.1", postgres.port());
    int port = other.port();
    String threadPrefix = "idem-pgproxy-" + port + "-";
    try (Connection a =
            DriverManager.getConnection(other.jdbcUrl(postgres.jdbcUrl()), "postgres", "");
        Connection b =
            DriverManager.getConnection(other.jdbcUrl(postgres.jdbcUrl()), "postgres", "")) {
      assertThat(other.connections()).isEqualTo(2);
      assertThat(threadsNamed(threadPrefix)).hasSize(5);

      other.close();

      assertThat(Ports.listening(port)).isFalse();
      assertThat(threadsNamed(threadPrefix)).isEmpty();
      assertThat(other.connections()).isZero();
      assertConnectionBroken(() -> insert(a, 1));
      assertConnectionBroken(() -> insert(b, 2));
      other.close();
    }
  }

  @Test
  void anUnreachableServerRefusesTheClient() throws SQLException {
    int nobody = Ports.freePort();
    try (PgProxy toNowhere = PgProxy.start("127.0.0.1", nobody)) {
      String url = toNowhere.jdbcUrl(postgres.jdbcUrl()) + "?connectTimeout=5";
      assertConnectionBroken(() -> DriverManager.getConnection(url, "postgres", "").close());
      assertThat(toNowhere.connections()).isZero();
    }
  }

  @Test
  void jdbcUrlKeepsDatabaseAndParameters() {
    String prefix = "jdbc:postgresql://127.0.0.1:" + proxy.port();
    assertThat(proxy.jdbcUrl("jdbc:postgresql://db.example:5432/app?ssl=false"))
        .isEqualTo(prefix + "/app?ssl=false");
    assertThat(proxy.jdbcUrl("jdbc:postgresql://a:1,b:2/app")).isEqualTo(prefix + "/app");
    assertThat(proxy.jdbcUrl("jdbc:postgresql://localhost")).isEqualTo(prefix);
    assertThatThrownBy(() -> proxy.jdbcUrl("jdbc:mysql://localhost/app"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  private Connection viaProxy(String parameters) throws SQLException {
    String url = proxy.jdbcUrl(postgres.jdbcUrl()) + "?socketTimeout=30" + parameters;
    return DriverManager.getConnection(url, postgres.user(), postgres.password());
  }

  private static Connection direct() throws SQLException {
    return DriverManager.getConnection(postgres.jdbcUrl(), postgres.user(), postgres.password());
  }

  private void insert(Connection c, int id) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?)")) {
      ps.setInt(1, id);
      ps.executeUpdate();
    }
  }

  private long rows(String where) throws SQLException {
    try (Connection c = direct();
        Statement s = c.createStatement()) {
      return count(s, "SELECT count(*) FROM " + table + " WHERE " + where);
    }
  }

  private boolean backendHoldsRowLock() throws SQLException {
    try (Connection c = direct();
        Statement s = c.createStatement()) {
      return count(
              s,
              "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation"
                  + " WHERE r.relname = '"
                  + table
                  + "' AND l.pid <> pg_backend_pid()")
          > 0;
    }
  }

  private static long count(Statement s, String sql) throws SQLException {
    try (ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static List<String> threadsNamed(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .map(Thread::getName)
        .filter(name -> name.startsWith(prefix))
        .toList();
  }

  private static void assertConnectionBroken(ThrowingCallable call) {
    assertThatThrownBy(call)
        .isInstanceOf(SQLException.class)
        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).startsWith("08"));
  }
}
