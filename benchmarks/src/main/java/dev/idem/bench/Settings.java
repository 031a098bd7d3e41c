package dev.idem.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parameters of one scenario run, passed from the harness to the child JVM as {@code key=value}
 * arguments. {@code servers} is the {@link ServerCpu} scope of the broker and the database.
 */
record Settings(
    String scenario,
    String bootstrap,
    String topic,
    int partitions,
    int events,
    int uniqueEvents,
    int threads,
    int batchSize,
    String pgUrl,
    String pgUser,
    String pgPassword,
    String prefix,
    int latencyRate,
    String servers) {

  String[] toArgs() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("scenario", scenario);
    m.put("bootstrap", bootstrap);
    m.put("topic", topic);
    m.put("partitions", Integer.toString(partitions));
    m.put("events", Integer.toString(events));
    m.put("unique", Integer.toString(uniqueEvents));
    m.put("threads", Integer.toString(threads));
    m.put("batch", Integer.toString(batchSize));
    m.put("pgUrl", pgUrl);
    m.put("pgUser", pgUser);
    m.put("pgPassword", pgPassword);
    m.put("prefix", prefix);
    m.put("latencyRate", Integer.toString(latencyRate));
    m.put("servers", servers);
    return m.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toArray(String[]::new);
  }

  static Settings fromArgs(String[] args) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      m.put(a.substring(0, eq), a.substring(eq + 1));
    }
    return new Settings(
        m.get("scenario"),
        m.get("bootstrap"),
        m.get("topic"),
        Integer.parseInt(m.get("partitions")),
        Integer.parseInt(m.get("events")),
        Integer.parseInt(m.get("unique")),
        Integer.parseInt(m.get("threads")),
        Integer.parseInt(m.get("batch")),
        m.get("pgUrl"),
        m.get("pgUser"),
        m.getOrDefault("pgPassword", ""),
        m.get("prefix"),
        Integer.parseInt(m.get("latencyRate")),
        m.getOrDefault("servers", ServerCpu.ANY));
  }

  /** The ledger table of this scenario. */
  String ledger() {
    return prefix + "_" + scenario.replace('-', '_') + "_ledger";
  }

  /** The consumer name (and group id) of this scenario. */
  String consumerName() {
    return prefix + "_" + scenario.replace('-', '_');
  }
}
