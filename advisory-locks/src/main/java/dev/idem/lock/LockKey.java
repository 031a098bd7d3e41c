package dev.idem.lock;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Objects;

/**
 * A PostgreSQL advisory-lock key derived from a namespace and a name: the same namespace and name
 * give the same lock on every JVM and every PostgreSQL version.
 *
 * <p>Two forms, which PostgreSQL keeps apart (they never collide, even for the same numbers):
 *
 * <ul>
 *   <li>{@link #of(String, String)}: one 64-bit key from the namespace and a name, for the {@code
 *       pg_advisory_*(bigint)} functions. The consumer framework uses this form with the event id.
 *   <li>{@link #of(String, int)}: a pair {@code (namespace hash, id)} for the {@code
 *       pg_advisory_*(int, int)} functions, for numeric ids such as "user 500".
 * </ul>
 *
 * <p><b>Key functions, version 1 (frozen).</b> Let {@code ns} and {@code name} be the UTF-8 bytes
 * of the namespace and the name. The 64-bit key is the first 8 bytes, read big-endian as a signed
 * {@code long}, of {@code SHA-256( int32_be(len(ns)) ‖ ns ‖ name )}. The namespace hash of the pair
 * form is the first 4 bytes, big-endian signed, of {@code SHA-256( int32_be(len(ns)) ‖ ns )}.
 *
 * <p>The length prefix keeps {@code ("ab", "c")} and {@code ("a", "bc")} apart. The functions are
 * computed in Java, never with PostgreSQL's {@code hashtext}, which is internal and has changed
 * between releases. Changing them would let two copies of one event take different locks during a
 * rolling upgrade; a different function would get a new {@link #VERSION}.
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
 *   <tr><td>{@code "cache"} (pair form)</td><td>{@code 500}</td><td>{@code (924211174, 500)}</td></tr>
 * </table>
 *
 * <p>A collision of two names only makes their holders wait for each other; the consumer framework
 * checks the full event id after taking the lock, so a collision never skips an event.
 */
public final class LockKey {

  /** The version of the key functions. */
  public static final int VERSION = 1;

  /** Which PostgreSQL function family the key is for. */
  public enum Form {
    /** {@code pg_advisory_*(bigint)}; {@code pg_locks.objsubid = 1}. */
    BIGINT,
    /** {@code pg_advisory_*(int, int)}; {@code pg_locks.objsubid = 2}. */
    INT_PAIR
  }

  private final String namespace;
  private final String name;
  private final Form form;
  private final long value;
  private final int classId;
  private final int objectId;

  private LockKey(String namespace, String name, Form form, long value, int classId, int objectId) {
    this.namespace = namespace;
    this.name = name;
    this.form = form;
    this.value = value;
    this.classId = classId;
    this.objectId = objectId;
  }

  /** The 64-bit key of {@code name} in {@code namespace}. */
  public static LockKey of(String namespace, String name) {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(name, "name");
    long v = hash(namespace, name);
    return new LockKey(namespace, name, Form.BIGINT, v, (int) (v >>> 32), (int) v);
  }

  /** The pair key {@code (namespace hash, id)}: for numeric ids within a namespace. */
  public static LockKey of(String namespace, int id) {
    Objects.requireNonNull(namespace, "namespace");
    int ns = namespaceHash(namespace);
    return new LockKey(
        namespace,
        Integer.toString(id),
        Form.INT_PAIR,
        ((long) ns << 32) | (id & 0xFFFFFFFFL),
        ns,
        id);
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

  /** The version-1 namespace hash of the pair form. */
  public static int namespaceHash(String namespace) {
    byte[] ns = namespace.getBytes(StandardCharsets.UTF_8);
    MessageDigest sha = sha256();
    sha.update(ByteBuffer.allocate(4).putInt(ns.length).array());
    sha.update(ns);
    return ByteBuffer.wrap(sha.digest(), 0, 4).getInt();
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  /** The namespace. */
  public String namespace() {
    return namespace;
  }

  /** The name (for the pair form, the id in decimal). */
  public String name() {
    return name;
  }

  /** The form, which decides the SQL functions used. */
  public Form form() {
    return form;
  }

  /**
   * The 64-bit key for {@code pg_advisory_*(bigint)}.
   *
   * @throws IllegalStateException for the pair form
   */
  public long value() {
    if (form != Form.BIGINT) {
      throw new IllegalStateException(this + " is a pair key; use classId() and objectId()");
    }
    return value;
  }

  /** {@code pg_locks.classid}: the high 32 bits of a 64-bit key, or the namespace hash. */
  public int classId() {
    return classId;
  }

  /** {@code pg_locks.objid}: the low 32 bits of a 64-bit key, or the id. */
  public int objectId() {
    return objectId;
  }

  /** {@code pg_locks.objsubid}: 1 for 64-bit keys, 2 for pairs. */
  public int objectSubId() {
    return form == Form.BIGINT ? 1 : 2;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LockKey k
        && k.form == form
        && k.value == value
        && k.namespace.equals(namespace)
        && k.name.equals(name);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(value) * 31 + form.hashCode();
  }

  @Override
  public String toString() {
    return form == Form.BIGINT
        ? "LockKey[" + namespace + "/" + name + " = " + value + "]"
        : "LockKey[" + namespace + "/" + name + " = (" + classId + ", " + objectId + ")]";
  }
}
