package dev.idem.consumer;

import dev.idem.consumer.internal.FaultHook;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Test tooling for the chaos module: reaches {@code IdempotentConsumer.Builder#faultHook}, which is
 * package-private so that fault injection never shows in idem's public API.
 *
 * <p>This class lives in consumer-framework's package but in the chaos jar: a split package. That
 * is fine here because the chaos tools only run on the class path (where a package may span jars
 * and package-private access works within one class loader); on the module path the two jars would
 * clash, and no production code ever loads this class.
 */
public final class FaultHooks {
  private FaultHooks() {}

  /**
   * Makes {@code action} run on the worker thread right after each record's database transaction
   * committed, before its offset can be committed to Kafka.
   */
  public static <T> IdempotentConsumer.Builder<T> afterDatabaseCommit(
      IdempotentConsumer.Builder<T> builder, Consumer<ConsumerRecord<byte[], byte[]>> action) {
    return builder.faultHook(
        new FaultHook() {
          @Override
          public void afterDatabaseCommit(ConsumerRecord<byte[], byte[]> record) {
            action.accept(record);
          }
        });
  }
}
