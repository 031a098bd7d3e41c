/**
 * The consumer framework's schema.
 *
 * <p>{@link ConsumerSchemas} names the script sets {@code core}, {@code offsets} and {@code
 * outbox}, applied by the lock library's {@code SchemaMigrator}. The scripts are {@code .sql}
 * resources under {@code dev/idem/schema/}. {@link SchemaVersionCheck} checks the version at start
 * when the application applies the scripts itself. It uses no other internal package.
 */
package dev.idem.consumer.internal.schema;
