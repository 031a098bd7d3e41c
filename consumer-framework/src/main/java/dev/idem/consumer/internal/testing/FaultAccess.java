package dev.idem.consumer.internal.testing;

import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.internal.FaultHook;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Fault injection for idem's own fault tests (the chaos module). <strong>Unsupported:</strong> not
 * part of idem's API, may change or go in any release, and must not be used by applications.
 *
 * <p>It reaches {@code IdempotentConsumer.Builder#faultHook}, which is package-private so that
 * fault injection never shows in the public API, through a private lookup within the framework's
 * own jar (and module): no class of another jar sits in the framework's package.
 */
public final class FaultAccess {
  private static final MethodHandle FAULT_HOOK = faultHookSetter();

  private FaultAccess() {}

  /**
   * Makes {@code action} run on the worker thread right after each record's database transaction
   * committed, before its offset can be committed to Kafka. Replaces an earlier fault hook.
   *
   * @return {@code builder}
   */
  public static <T> IdempotentConsumer.Builder<T> afterDatabaseCommit(
      IdempotentConsumer.Builder<T> builder, Consumer<ConsumerRecord<byte[], byte[]>> action) {
    FaultHook hook =
        new FaultHook() {
          @Override
          public void afterDatabaseCommit(ConsumerRecord<byte[], byte[]> record) {
            action.accept(record);
          }
        };
    try {
      FAULT_HOOK.invoke(builder, hook);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException("cannot set the fault hook: " + e, e);
    }
    return builder;
  }

  private static MethodHandle faultHookSetter() {
    try {
      MethodHandles.Lookup lookup =
          MethodHandles.privateLookupIn(IdempotentConsumer.Builder.class, MethodHandles.lookup());
      return lookup.findVirtual(
          IdempotentConsumer.Builder.class,
          "faultHook",
          MethodType.methodType(IdempotentConsumer.Builder.class, FaultHook.class));
    } catch (ReflectiveOperationException e) {
      // Only a change of the builder gets here; FaultAccessTest catches it in the build.
      throw new ExceptionInInitializerError(e);
    }
  }
}
