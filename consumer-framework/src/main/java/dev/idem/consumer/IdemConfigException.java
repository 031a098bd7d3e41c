package dev.idem.consumer;

import dev.idem.IdemException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A configuration value was missing or refused. The message names the key and says how to fix it;
 * when a build refused several settings, it names each of them, one a line.
 */
public class IdemConfigException extends IdemException {
  private static final long serialVersionUID = 1L;

  private final String key;
  private final Map<String, String> refused;

  /**
   * @param key the configuration key, as written in a configuration file (e.g. {@code
   *     kafka.enable.auto.commit})
   * @param message what is wrong and how to fix it
   */
  public IdemConfigException(String key, String message) {
    super(key + ": " + message);
    this.key = key;
    this.refused = Map.of(key, message);
  }

  private IdemConfigException(Map<String, String> refused, String message) {
    super(message);
    this.key = refused.keySet().iterator().next();
    this.refused = refused;
  }

  /**
   * One exception for several refusals: its {@link #key()} is the first one's, its message names
   * every one, one a line; one refusal is returned as it is.
   *
   * @param refusals at least one
   */
  public static IdemConfigException all(List<IdemConfigException> refusals) {
    if (refusals.size() == 1) {
      return refusals.get(0);
    }
    Map<String, String> refused = new LinkedHashMap<>();
    StringBuilder message = new StringBuilder();
    for (IdemConfigException e : refusals) {
      for (Map.Entry<String, String> r : e.refused.entrySet()) {
        if (refused.putIfAbsent(r.getKey(), r.getValue()) == null) {
          message.append(message.length() == 0 ? "" : "\n").append(r.getKey()).append(": ");
          message.append(r.getValue());
        }
      }
    }
    return new IdemConfigException(Collections.unmodifiableMap(refused), message.toString());
  }

  /** The configuration key that was refused; the first one when several were. */
  public String key() {
    return key;
  }

  /** Every refused key with what is wrong and the fix, in the order they were found. */
  public Map<String, String> refused() {
    return refused;
  }
}
