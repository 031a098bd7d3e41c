package dev.idem.testkit.pg.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Answers "does a Docker engine answer here?" without hanging: no socket and no DOCKER_HOST means
 * no, at once; otherwise Testcontainers is asked with a deadline.
 */
public final class DockerProbe {
  private static final long TIMEOUT_SECONDS = 10;

  private DockerProbe() {}

  /** Whether a Docker engine answered within the deadline. */
  public static boolean dockerAnswers() {
    if (!socketOrHostConfigured()) {
      return false;
    }
    CompletableFuture<Boolean> probe = new CompletableFuture<>();
    Thread thread =
        new Thread(
            () -> {
              try {
                probe.complete(
                    org.testcontainers.DockerClientFactory.instance().isDockerAvailable());
              } catch (Throwable t) {
                probe.complete(false);
              }
            },
            "idem-docker-probe");
    thread.setDaemon(true);
    thread.start();
    try {
      return probe.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (Exception e) {
      return false;
    }
  }

  private static boolean socketOrHostConfigured() {
    String host = System.getenv("DOCKER_HOST");
    if (host != null && !host.isBlank()) {
      return true;
    }
    Path home = Path.of(System.getProperty("user.home", "/"));
    return Files.exists(Path.of("/var/run/docker.sock"))
        || Files.exists(home.resolve(".docker/run/docker.sock"))
        || Files.exists(home.resolve(".testcontainers.properties"));
  }
}
