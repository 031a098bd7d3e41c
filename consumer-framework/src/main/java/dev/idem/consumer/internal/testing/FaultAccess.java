package dev.idem.consumer.internal.testing;

import dev.idem.consumer.ConsumerBuilder;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.IdempotentShareConsumer;
import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.outbox.OutboxRelay;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Fault injection for idem's own fault tests (the chaos module). <strong>Unsupported:</strong> not
 * part of idem's API, may change or go in any release, and must not be used by applications.
 *
 * <p>It reaches the builders' {@code faultHook} ({@code ConsumerBuilder}, which both consumers'
 * builders extend, and {@code OutboxRelay.Builder}), which is package-private so that fault
 * injection never shows in the public API, through a private lookup within the framework's own jar
 * (and module): no class of another jar sits in the framework's package.
 */
public final class FaultAccess {
  // Both consumers' builders inherit the setter from ConsumerBuilder.
  private static final MethodHandle FAULT_HOOK = faultHookSetter(ConsumerBuilder.class);
  private static final MethodHandle RELAY_FAULT_HOOK = faultHookSetter(OutboxRelay.Builder.class);

  private FaultAccess() {}

  /**
   * Makes {@code action} run on the worker thread right after each record's database transaction
   * committed, before its offset can be committed to Kafka. Replaces an earlier fault hook.
   *
   * @return {@code builder}
   */
  public static <T> IdempotentConsumer.Builder<T> afterDatabaseCommit(
      IdempotentConsumer.Builder<T> builder, Consumer<ConsumerRecord<byte[], byte[]>> action) {
    set(FAULT_HOOK, builder, action);
    return builder;
  }

  /**
   * The same for a share consumer: {@code action} runs right after each record's database
   * transaction committed, before the record is acknowledged to the broker.
   *
   * @return {@code builder}
   */
  public static <T> IdempotentShareConsumer.Builder<T> afterDatabaseCommit(
      IdempotentShareConsumer.Builder<T> builder, Consumer<ConsumerRecord<byte[], byte[]>> action) {
    set(FAULT_HOOK, builder, action);
    return builder;
  }

  /**
   * Makes {@code action} run on an outbox relay's thread after each round's Kafka transaction
   * committed, before the round's rows are marked sent; it gets the number of rows. Replaces an
   * earlier fault hook.
   *
   * @return {@code builder}
   */
  public static OutboxRelay.Builder afterOutboxSend(
      OutboxRelay.Builder builder, IntConsumer action) {
    set(
        RELAY_FAULT_HOOK,
        builder,
        new FaultHook() {
          @Override
          public void afterOutboxSend(int rows) {
            action.accept(rows);
          }
        });
    return builder;
  }

  private static void set(
      MethodHandle setter, Object builder, Consumer<ConsumerRecord<byte[], byte[]>> action) {
    set(
        setter,
        builder,
        new FaultHook() {
          @Override
          public void afterDatabaseCommit(ConsumerRecord<byte[], byte[]> record) {
            action.accept(record);
          }
        });
  }

  private static void set(MethodHandle setter, Object builder, FaultHook hook) {
    try {
      setter.invoke(builder, hook);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException("cannot set the fault hook: " + e, e);
    }
  }

  private static MethodHandle faultHookSetter(Class<?> builderClass) {
    try {
      MethodHandles.Lookup lookup =
          MethodHandles.privateLookupIn(builderClass, MethodHandles.lookup());
      return lookup
          .findVirtual(
              builderClass, "faultHook", MethodType.methodType(builderClass, FaultHook.class))
          .asType(MethodType.methodType(void.class, Object.class, FaultHook.class));
    } catch (ReflectiveOperationException e) {
      // Only a change of the builder gets here; FaultAccessTest catches it in the build.
      throw new ExceptionInInitializerError(e);
    }
  }
}
