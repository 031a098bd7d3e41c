package dev.idem.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.idem.testkit.TestInfrastructure;
import java.net.URI;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Which processes count as "the servers" in the report's server CPU. */
class ServerCpuTest {

  @Test
  void aJvmWithThePostgresqlDriverOnItsClassPathIsNotCountedAsAServer() throws Exception {
    TestInfrastructure.shared();
    String classPath = System.getProperty("java.class.path");
    assertThat(classPath).contains("postgresql");
    // Started like the harness starts a consumer: the class path (with the driver) on the command
    // line. Its CPU is the client's, not the database's.
    Process child =
        new ProcessBuilder(
                List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp",
                    classPath,
                    Idle.class.getName()))
            .redirectErrorStream(true)
            .start();
    try {
      assertThat(child.getInputStream().read()).as("child started").isEqualTo('R');
      assertThat(ServerCpu.of(ServerCpu.ANY).pids()).isNotEmpty().doesNotContain(child.pid());
    } finally {
      child.destroy();
      child.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void theBackendOfAConnectionCountsForItsServersPortOnly() throws Exception {
    TestInfrastructure infra = TestInfrastructure.shared();
    int port = URI.create(infra.postgres().jdbcUrl().substring("jdbc:".length())).getPort();
    try (Connection c = infra.postgres().dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      long backend = rs.getLong(1);
      assertThat(ServerCpu.of(ServerCpu.scope(port, null)).pids()).contains(backend);
      assertThat(ServerCpu.of(ServerCpu.scope(port + 1, null)).pids()).doesNotContain(backend);
      assertThat(ServerCpu.of(ServerCpu.ANY).pids()).contains(backend);
    }
  }

  /** A JVM that says it runs, then waits to be ended. */
  static final class Idle {
    public static void main(String[] args) throws InterruptedException {
      System.out.println("READY");
      System.out.flush();
      Thread.sleep(60_000);
    }
  }
}
