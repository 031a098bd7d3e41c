/**
 * {@link IdemException}, the unchecked root of every exception idem throws. Shared by both
 * libraries; it uses no other idem package.
 */
package dev.idem;
