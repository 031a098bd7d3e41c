package dev.idem.consumer;

/**
 * The documentation of one {@code consumer.*} or {@code pg.*} setting, as {@link IdemConfig}
 * defines it: for tools that describe idem's settings in their own terms (the Spring Boot starter's
 * configuration metadata, say).
 *
 * @param key the key, as written in a configuration file (e.g. {@code consumer.lock-timeout})
 * @param type the type as the reference documentation names it (e.g. {@code duration})
 * @param defaultText the default as the documentation states it
 * @param doc one line of documentation
 */
public record SettingInfo(String key, String type, String defaultText, String doc) {}
