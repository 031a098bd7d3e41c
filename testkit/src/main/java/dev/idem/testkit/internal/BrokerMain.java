package dev.idem.testkit.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Entry point of the child JVM that runs an embedded KRaft broker.
 *
 * <p>Formats the log directory when it is new, then runs the broker's own main. The broker exits
 * gracefully when its standard input closes, so a test JVM that dies (even by {@code kill -9})
 * never leaves a broker behind.
 */
public final class BrokerMain {
  private BrokerMain() {}

  /**
   * Runs the broker.
   *
   * @param args the server.properties path and the cluster id
   */
  public static void main(String[] args) throws Exception {
    String properties = args[0];
    String clusterId = args[1];
    if (!Files.exists(Path.of(properties))) {
      System.err.println("no such file: " + properties);
      System.exit(2);
    }
    int formatted =
        kafka.tools.StorageTool.execute(
            new String[] {"format", "-t", clusterId, "-c", properties, "--ignore-formatted"},
            System.out);
    if (formatted != 0) {
      System.err.println("formatting the log directory failed: " + formatted);
      System.exit(formatted);
    }
    Thread watchdog = new Thread(BrokerMain::exitWhenParentGoes, "parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    kafka.Kafka.main(new String[] {properties});
  }

  private static void exitWhenParentGoes() {
    InputStream in = System.in;
    byte[] buffer = new byte[64];
    try {
      while (in.read(buffer) >= 0) {
        // The parent never writes; reading only detects that the pipe closed.
      }
    } catch (IOException e) {
      // Same meaning as end of stream.
    }
    System.exit(0);
  }
}
