/**
 * The consumer framework's public API: what an application builds, configures and implements.
 *
 * <p>The facades {@link IdempotentConsumer} and {@link IdempotentShareConsumer} implement {@link
 * IdemConsumer}; their builders extend {@link ConsumerBuilder}. They take an {@link IdemConfig} and
 * the user's code: an {@link EventHandler} or a {@link BatchHandler}, an {@link EventIdExtractor}
 * and a {@link PayloadDeserializer}. Ready-made strategies sit next to their interfaces: {@link
 * EventIds}, {@link OrderingKeys}, {@link Payloads}, {@link RetryPolicy}. Every exception extends
 * {@link dev.idem.IdemException}.
 *
 * <p>The facades delegate to {@code internal.runtime} and {@code internal.share}, which wire the
 * other internal packages. No internal type appears in a public signature here ({@code
 * ArchitectureTest}). The package also uses the lock library and the shared transaction template.
 */
package dev.idem.consumer;
