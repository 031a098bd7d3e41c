package dev.idem.example.webhook;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Verifies webhooks signed by the Standard Webhooks scheme.
 *
 * <p>The signed content is {@code webhook-id + "." + webhook-timestamp + "." + body}, over the raw
 * body bytes. {@code webhook-signature} holds space-separated {@code version,signature} entries;
 * {@code v1} entries are base64 HMAC-SHA256 of the content with the secret's key, and entries of
 * other versions (such as {@code v1a}) are skipped. Secrets are written {@code whsec_<base64>}: the
 * key is the base64-decoded text after the prefix. Several secrets may be active at once
 * (rotation): a signature by any of them is accepted. Timestamps more than the tolerance (5
 * minutes, as in the reference libraries) before or after the injected clock are refused.
 * Signatures are compared in constant time.
 */
public final class WebhookVerifier {
  /** The reference libraries' tolerance. */
  public static final Duration DEFAULT_TOLERANCE = Duration.ofMinutes(5);

  private static final String PREFIX = "whsec_";
  private final List<byte[]> keys;
  private final Clock clock;
  private final Duration tolerance;

  /**
   * @param secrets one or more {@code whsec_<base64>} secrets
   * @throws IllegalArgumentException naming the position of a secret that cannot be read (never its
   *     value)
   */
  public WebhookVerifier(List<String> secrets, Clock clock, Duration tolerance) {
    if (secrets == null || secrets.isEmpty()) {
      throw new IllegalArgumentException("at least one secret is required");
    }
    List<byte[]> decoded = new ArrayList<>();
    for (int i = 0; i < secrets.size(); i++) {
      decoded.add(decode(secrets.get(i), i));
    }
    this.keys = List.copyOf(decoded);
    this.clock = clock;
    this.tolerance = tolerance;
  }

  private static byte[] decode(String secret, int index) {
    String s = secret == null ? "" : secret.trim();
    if (s.startsWith(PREFIX)) {
      s = s.substring(PREFIX.length());
    }
    try {
      byte[] key = Base64.getDecoder().decode(s);
      if (key.length == 0) {
        throw new IllegalArgumentException("empty");
      }
      return key;
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "secret #" + (index + 1) + " is not whsec_ followed by base64");
    }
  }

  /**
   * Checks the headers and the signature of a request.
   *
   * @throws WebhookRejected 400 for missing or malformed headers, 401 for a timestamp outside the
   *     tolerance or no valid signature
   */
  public void verify(String id, String timestamp, String signatures, byte[] body)
      throws WebhookRejected {
    if (id == null || id.isBlank()) {
      throw new WebhookRejected(400, "missing-header", "missing webhook-id header");
    }
    if (timestamp == null || timestamp.isBlank()) {
      throw new WebhookRejected(400, "missing-header", "missing webhook-timestamp header");
    }
    if (signatures == null || signatures.isBlank()) {
      throw new WebhookRejected(400, "missing-header", "missing webhook-signature header");
    }
    long seconds;
    try {
      seconds = Long.parseLong(timestamp.trim());
    } catch (NumberFormatException e) {
      throw new WebhookRejected(
          400, "malformed-header", "webhook-timestamp is not a number of seconds");
    }
    List<byte[]> candidates = new ArrayList<>();
    boolean anyEntry = false;
    for (String entry : signatures.trim().split(" +")) {
      int comma = entry.indexOf(',');
      if (comma <= 0 || comma == entry.length() - 1) {
        continue;
      }
      anyEntry = true;
      if (!entry.substring(0, comma).equals("v1")) {
        continue; // other schemes, such as v1a (asymmetric), are not ours to check
      }
      try {
        candidates.add(Base64.getDecoder().decode(entry.substring(comma + 1)));
      } catch (IllegalArgumentException e) {
        // An unreadable entry cannot match; others may.
      }
    }
    if (!anyEntry) {
      throw new WebhookRejected(
          400, "malformed-header", "webhook-signature has no version,signature entry");
    }
    long now = clock.instant().getEpochSecond();
    if (now - seconds > tolerance.toSeconds()) {
      throw new WebhookRejected(401, "stale-timestamp", "webhook-timestamp is too old");
    }
    if (seconds - now > tolerance.toSeconds()) {
      throw new WebhookRejected(401, "stale-timestamp", "webhook-timestamp is in the future");
    }
    for (byte[] key : keys) {
      byte[] expected = hmac(key, id, timestamp.trim(), body);
      for (byte[] candidate : candidates) {
        if (MessageDigest.isEqual(expected, candidate)) {
          return;
        }
      }
    }
    throw new WebhookRejected(401, "bad-signature", "no valid v1 signature");
  }

  /**
   * The position (from 1) of the first accepted secret with the same key as {@code secret}, written
   * with or without the {@code whsec_} prefix; 0 when none has it.
   */
  int positionOfKey(String secret) {
    byte[] key = decode(secret, 0);
    for (int i = 0; i < keys.size(); i++) {
      if (java.util.Arrays.equals(keys.get(i), key)) {
        return i + 1;
      }
    }
    return 0;
  }

  /** A {@code v1,<base64>} signature with the first secret (for senders and tests). */
  public String sign(String id, long timestamp, byte[] body) {
    return "v1,"
        + Base64.getEncoder().encodeToString(hmac(keys.get(0), id, Long.toString(timestamp), body));
  }

  private static byte[] hmac(byte[] key, String id, String timestamp, byte[] body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      mac.update(id.getBytes(StandardCharsets.UTF_8));
      mac.update((byte) '.');
      mac.update(timestamp.getBytes(StandardCharsets.UTF_8));
      mac.update((byte) '.');
      return mac.doFinal(body);
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
    }
  }
}
