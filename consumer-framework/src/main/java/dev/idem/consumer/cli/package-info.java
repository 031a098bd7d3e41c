/**
 * Command-line tools, each with a {@code main} method.
 *
 * <p>{@link ReplayDeadLetters} replays or discards dead letters, configured by an idem properties
 * or YAML file. {@link SchemaSql} prints idem's schema scripts for teams that apply DDL with their
 * own tool. They use the public API, the script sets of {@code internal.schema} and the lock
 * library's {@code SchemaMigrator}.
 */
package dev.idem.consumer.cli;
