/**
 * The definition of every {@code consumer.*} and {@code pg.*} setting, written once.
 *
 * <p>{@link Setting} holds a key, its {@link Kind}, its default and one line of documentation;
 * {@link Settings} is the table of them all, and {@link Rules} the checks between settings; {@link
 * Validation} reads a whole configuration and names every refusal at once. {@link ConfigFiles}
 * reads properties and YAML files with environment overrides. {@link KafkaClientProperties} builds
 * the Kafka client properties idem uses. {@code IdemConfig} validates through this package. It uses
 * the public API's types and no other internal package.
 */
package dev.idem.consumer.internal.config;
