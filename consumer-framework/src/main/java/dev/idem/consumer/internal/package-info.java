/**
 * The consumer framework's internals. Not API: they may change in any release.
 *
 * <p>This package holds only {@link FaultHook}, the points where idem's own tests inject faults;
 * production consumers use {@link FaultHook#NONE}. Each subpackage holds one concern. The
 * subpackages must not form a cycle among each other, and no public type outside an internal
 * package may show an internal type in its signature ({@code ArchitectureTest}).
 */
package dev.idem.consumer.internal;
