/**
 * {@link Transactions}: the one shape of every transaction idem runs, in both libraries.
 *
 * <p>It runs an explicit transaction whatever the pool's auto-commit setting. Before {@code COMMIT}
 * it checks that the transaction was not aborted by an error the work caught. It uses no other idem
 * package ({@code LockArchitectureTest}).
 */
package dev.idem.internal.jdbc;
