package dev.idem.lock;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Objects;

/**
 * A PostgreSQL advisory-lock key derived from a namespace and a name (for the consumer framework:
 * the consumer's lock namespace and the event id).
 *
 * <p><b>Key function, version 1 (frozen).</b> Let {@code ns} and {@code name} be the UTF-8 bytes of
 * the namespace and the name. The 64-bit key is the first 8 bytes, read big-endian as a signed
 * {@code long}, of
 *
 * <pre>SHA-256( int32_be(len(ns)) ‖ ns ‖ name )</pre>
 *
 * <p>The length prefix keeps {@code ("ab", "c")} and {@code ("a", "bc")} apart. The function is
 * computed in Java, never with PostgreSQL's {@code hashtext}, which is internal and has changed
 * between releases, so every JVM and every PostgreSQL version agree. Changing it would let two
 * copies of one event take different locks during a rolling upgrade; a different function would get
 * a new {@link #VERSION}.
 *
 * <p>Test vectors (checked by the test suite):
 *
 * <table>
 *   <caption>Version 1 keys</caption>
 *   <tr><th>namespace</th><th>name</th><th>key</th></tr>
 *   <tr><td>{@code ""}</td><td>{@code ""}</td><td>{@code -2360060374177730597}</td></tr>
 *   <tr><td>{@code "payments"}</td><td>{@code "evt_1"}</td><td>{@code 6121237337138513139}</td></tr>
 *   <tr><td>{@code "ledger-writer"}</td><td>{@code "msg_p5jXN8AQM9LWM0D4loKWxJek"}</td>
 *       <td>{@code -7307530248418197489}</td></tr>
 *   <tr><td>{@code "ünï"}</td><td>{@code "€"}</td><td>{@code -1311595156362243925}</td></tr>
 * </table>
 *
 * <p>A collision of two names only makes their holders wait for each other; the consumer framework
 * checks the full event id after taking the lock, so a collision never skips an event.
 *
 * @param namespace the namespace (for consumers: the lock namespace, by default the consumer name)
 * @param name the name within the namespace (for consumers: the event id)
 * @param value the 64-bit key passed to {@code pg_advisory_xact_lock(bigint)}
 */
public record LockKey(String namespace, String name, long value) {

  /** The version of the key function implemented by {@link #of(String, String)}. */
  public static final int VERSION = 1;

  public LockKey {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(name, "name");
  }

  /** The version-1 key of {@code name} in {@code namespace}. */
  public static LockKey of(String namespace, String name) {
    return new LockKey(namespace, name, hash(namespace, name));
  }

  /** The version-1 64-bit key of {@code name} in {@code namespace}. */
  public static long hash(String namespace, String name) {
    byte[] ns = namespace.getBytes(StandardCharsets.UTF_8);
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    MessageDigest sha = sha256();
    sha.update(ByteBuffer.allocate(4).putInt(ns.length).array());
    sha.update(ns);
    sha.update(n);
    return ByteBuffer.wrap(sha.digest(), 0, 8).getLong();
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  @Override
  public String toString() {
    return "LockKey[" + namespace + "/" + name + " = " + value + "]";
  }
}
