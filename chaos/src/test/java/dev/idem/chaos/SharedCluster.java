package dev.idem.chaos;

/**
 * One {@link ChaosCluster} for all chaos test classes of a test JVM: starting a broker and a
 * database takes seconds, and the runs use their own topics and consumer names anyway. It is closed
 * when the JVM exits.
 */
final class SharedCluster {
  private static ChaosCluster cluster;

  private SharedCluster() {}

  static synchronized ChaosCluster get() {
    if (cluster == null) {
      ChaosCluster started = ChaosCluster.start();
      Runtime.getRuntime().addShutdownHook(new Thread(started::close, "chaos-cluster-shutdown"));
      cluster = started;
    }
    return cluster;
  }
}
