package dev.idem.testkit;

/**
 * A running Kafka broker that tests connect to.
 *
 * <p>Embedded brokers can be stopped and started again on the same port with their data kept;
 * brokers from the environment or from containers cannot, and say so through {@link
 * #restartable()}.
 */
public interface KafkaServer extends AutoCloseable {

  /** The {@code bootstrap.servers} value for clients. */
  String bootstrapServers();

  /** Where this broker comes from, for logs: "embedded", "testcontainers" or "external". */
  String kind();

  /** Whether {@link #stop()}, {@link #start()} and {@link #kill()} are supported. */
  boolean restartable();

  /**
   * Stops the broker gracefully, keeping its log directory and port.
   *
   * @throws UnsupportedOperationException if the broker is not {@linkplain #restartable()
   *     restartable}
   */
  void stop();

  /**
   * Kills the broker without a graceful shutdown (like {@code kill -9}), keeping its data.
   *
   * @throws UnsupportedOperationException if the broker is not {@linkplain #restartable()
   *     restartable}
   */
  void kill();

  /**
   * Starts a stopped broker on the same port and log directory and waits until it answers.
   *
   * @throws UnsupportedOperationException if the broker is not {@linkplain #restartable()
   *     restartable}
   */
  void start();

  /** Stops the broker for good and deletes what it wrote. */
  @Override
  void close();
}
