/**
 * {@link FaultAccess}: how idem's own fault and chaos tests reach the builders' package-private
 * fault hooks. Not for applications.
 */
package dev.idem.consumer.internal.testing;
