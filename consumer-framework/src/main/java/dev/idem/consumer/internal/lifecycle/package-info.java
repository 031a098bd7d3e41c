/**
 * {@link ConsumerStatus}: the one holder of a consumer's {@code ConsumerState} (of either kind) and
 * of the latest {@code ConsumerSnapshot} its poll thread published, and the one place its {@code
 * ConsumerHealth} is built, with what the runtime's {@link RuntimeSignals} say.
 *
 * <p>The facade, the runtime and the poll loop move the state; {@code snapshot()} and {@code
 * health()} read it, so they never disagree. This package uses the public API's types and no other
 * internal package.
 */
package dev.idem.consumer.internal.lifecycle;
