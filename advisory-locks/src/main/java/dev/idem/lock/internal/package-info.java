/**
 * The lock library's internals. Not API.
 *
 * <p>{@link LockSql} holds the library's SQL and {@link SchemaMigrator} applies idem's versioned
 * script sets. {@link LockMetrics} holds the meters; {@link KnownPools} recognizes connection
 * pools. {@link HikariLockConnections} is the only class that touches HikariCP, which stays
 * optional. The consumer framework uses {@code SchemaMigrator} and {@code LockSql} too.
 */
package dev.idem.lock.internal;
