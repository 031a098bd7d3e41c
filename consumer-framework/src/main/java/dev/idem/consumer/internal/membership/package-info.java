/**
 * {@link InstanceIdGuard}: under static membership, at most one live consumer per {@code group.id}
 * and {@code group.instance.id}.
 *
 * <p>It holds a session advisory lock on a dedicated connection from start to close. It uses the
 * lock library, including {@code LockSql} for the statement it quotes to the operator, and no other
 * internal package.
 */
package dev.idem.consumer.internal.membership;
