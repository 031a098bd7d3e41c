/**
 * The processing transaction, as {@code docs/processing.md} describes it.
 *
 * <p>{@link RecordProcessor} runs one attempt at one record: read, lock, check and mark, the
 * handler on the same connection, commit; or it writes the dead letter. The tasks above it see it
 * as {@link RecordAttempts}. {@link BatchProcessor} applies many records in one transaction, and
 * {@link GroupProcessor} many records with a savepoint each; both implement {@link
 * GroupTransaction} and end in a {@link GroupRun}. {@link TxEnvironment} holds what they share and
 * is the one frame around every attempt ({@code observe}), transaction ({@code transact}, through a
 * {@link TransactionRunner}, as an {@link OpenTransaction}) and handler call ({@code callHandler},
 * with a {@link GuardedConnection} that expires when the call is over); the processors supply only
 * their steps. {@link Failures} classifies failures by type and SQLSTATE.
 *
 * <p>It holds no SQL text: it calls {@code internal.store}. It also uses {@code
 * internal.deadletter}, {@code internal.metrics} and {@code internal.observation}. {@code
 * internal.dispatch} uses it, so it must not use dispatch, and reaches the watchdog through {@link
 * AttemptConnections}.
 */
package dev.idem.consumer.internal.tx;
