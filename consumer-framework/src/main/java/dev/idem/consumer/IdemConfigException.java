package dev.idem.consumer;

import dev.idem.IdemException;

/**
 * A configuration value was missing or refused. The message names the key and says how to fix it.
 */
public class IdemConfigException extends IdemException {
  private static final long serialVersionUID = 1L;

  private final String key;

  /**
   * @param key the configuration key, as written in a configuration file (e.g. {@code
   *     kafka.enable.auto.commit})
   * @param message what is wrong and how to fix it
   */
  public IdemConfigException(String key, String message) {
    super(key + ": " + message);
    this.key = key;
  }

  /** The configuration key that was refused. */
  public String key() {
    return key;
  }
}
