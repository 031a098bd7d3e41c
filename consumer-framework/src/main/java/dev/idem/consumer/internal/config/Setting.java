package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;

/**
 * The definition of one setting: key, type, default and one line of documentation. {@link Settings}
 * holds them all; validation, the start-up log, the environment overrides, unknown-key detection
 * and the reference documentation come from there. {@code IdemConfig} keeps the values by key and
 * reads each with a typed accessor.
 *
 * @param key the key, as written in a configuration file
 * @param kind the type: how a value is read, checked and printed
 * @param defaultValue the default, or null when there is none or it depends on other settings
 * @param defaultText the default as the documentation states it
 * @param doc one line of documentation
 * @param <T> the value's type
 */
public record Setting<T>(String key, Kind<T> kind, T defaultValue, String defaultText, String doc) {

  /** The environment variable that overrides this setting. */
  public String envName() {
    return ConfigFiles.envName(key);
  }

  /** The value {@code raw} stands for, checked. */
  public T parse(String raw) {
    if (raw == null) {
      throw new IdemConfigException(key, Kind.NO_VALUE);
    }
    return check(kind.parser().parse(key, raw));
  }

  /**
   * {@code value}, when allowed.
   *
   * @throws IdemConfigException naming the key and the fix
   */
  public T check(T value) {
    if (value == null) {
      if (kind.optional()) {
        return null;
      }
      throw new IdemConfigException(key, kind.missing());
    }
    kind.check().check(key, value);
    return value;
  }

  /**
   * {@code value}, a typed setter's value for this setting, when allowed.
   *
   * @throws IdemConfigException naming the key and the fix
   */
  @SuppressWarnings("unchecked")
  public T checkAny(Object value) {
    return check((T) value);
  }

  /** {@code value}, this setting's, for the start-up log; null when there is none to show. */
  @SuppressWarnings("unchecked")
  public String print(Object value) {
    return kind.printer().apply((T) value);
  }
}
