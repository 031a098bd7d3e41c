package dev.idem.consumer.internal.config;

/**
 * A setting's value as text, from a file or {@code IdemConfig.Builder.set}: read and checked when
 * the configuration is built, where a typed setter's value is only checked.
 *
 * @param text the text as given
 */
public record RawValue(String text) {}
