/**
 * {@link ConsumerStatus}: the one holder of a consumer-group consumer's {@code ConsumerState} and
 * of the latest {@code ConsumerSnapshot} its poll thread published.
 *
 * <p>The facade, the runtime and the poll loop move the state; {@code snapshot()} and {@code
 * health()} read it, so they never disagree. The share-group runtime keeps its state itself. This
 * package uses the public API's types and no other internal package.
 */
package dev.idem.consumer.internal.lifecycle;
