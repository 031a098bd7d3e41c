/**
 * PostgreSQL advisory locks for the JVM, without Kafka. See {@code docs/locks.md}.
 *
 * <p>{@link AdvisoryLocks} is the entry point. It takes transaction-scoped locks on the caller's
 * connection and session-scoped locks, a {@link SessionLock}, on a dedicated one; each blocks up to
 * a timeout or only tries. It runs singleton jobs, which return a {@link RunResult}, and elects
 * leaders: a {@link LeaderElection} gives each leadership a {@link FencingToken}. {@link LockKey}
 * maps a namespace and a name to a key, frozen and versioned. {@link ConnectionFactory} opens the
 * dedicated connections. Failures are {@link LockException}s: {@link LockTimeoutException}, {@link
 * StaleLeaderException}, {@link TransactionPoolerException}.
 *
 * <p>It uses {@code dev.idem.lock.internal} and the transaction template, never the consumer
 * framework or Kafka ({@code LockArchitectureTest}).
 */
package dev.idem.lock;
