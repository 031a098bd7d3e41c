package dev.idem.testkit.pg.internal;

import dev.idem.testkit.pg.TestkitException;
import java.util.Locale;
import java.util.Map;

/**
 * How the testkits choose their servers: {@code -Didem.testkit.infra} (or {@code
 * IDEM_TESTKIT_INFRA}) is {@code auto}, {@code embedded} or {@code testcontainers}. Both testkits
 * (PostgreSQL and Kafka) read the same setting, so one JVM never mixes container and embedded
 * servers by accident.
 */
public enum InfraMode {
  /** Containers when a Docker engine answers, embedded servers otherwise. */
  AUTO,
  /** Always the embedded servers. */
  EMBEDDED,
  /** Always containers; fails when no Docker engine answers. */
  TESTCONTAINERS;

  /** The mode the system property or environment asks for. */
  public static InfraMode from(Map<String, String> env) {
    String value = System.getProperty("idem.testkit.infra", env.get("IDEM_TESTKIT_INFRA"));
    if (value == null || value.isBlank()) {
      return AUTO;
    }
    try {
      return valueOf(value.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new TestkitException(
          "idem.testkit.infra=" + value + " is not known; use auto, embedded or testcontainers");
    }
  }

  /** Whether this mode starts containers, asking Docker once when it is {@link #AUTO}. */
  public boolean containers() {
    if (this == TESTCONTAINERS && !DockerProbe.dockerAnswers()) {
      throw new TestkitException(
          "idem.testkit.infra=testcontainers but no Docker engine answered;"
              + " use idem.testkit.infra=embedded or auto");
    }
    return this == TESTCONTAINERS || (this == AUTO && DockerProbe.dockerAnswers());
  }
}
