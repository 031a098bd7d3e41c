/**
 * PostgreSQL advisory-lock keys shared by everything in idem that takes a lock.
 *
 * <p>{@link dev.idem.lock.LockKey} is the frozen, versioned function from a namespace and a name to
 * a 64-bit advisory-lock key.
 */
package dev.idem.lock;
