package dev.idem.example.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

class WebhookVerifierTest {
  // The Standard Webhooks reference libraries' test vector.
  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  private static final String ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  private static final String TIMESTAMP = "1614265330";
  private static final byte[] BODY = "{\"test\": 2432232314}".getBytes(StandardCharsets.UTF_8);
  private static final String SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
  private static final String OTHER_SECRET =
      "whsec_"
          + java.util.Base64.getEncoder()
              .encodeToString("another key of thirty-two bytes!".getBytes(StandardCharsets.UTF_8));

  private static WebhookVerifier at(long epochSecond, String... secrets) {
    return new WebhookVerifier(
        List.of(secrets),
        Clock.fixed(Instant.ofEpochSecond(epochSecond), ZoneOffset.UTC),
        WebhookVerifier.DEFAULT_TOLERANCE);
  }

  private static WebhookRejected rejected(ThrowingCall call) {
    try {
      call.run();
    } catch (WebhookRejected e) {
      return e;
    }
    throw new AssertionError("expected a rejection");
  }

  interface ThrowingCall {
    void run() throws WebhookRejected;
  }

  @Test
  void theReferenceVectorVerifiesAndSignsTheSame() throws Exception {
    WebhookVerifier verifier = at(1614265330L, SECRET);
    verifier.verify(ID, TIMESTAMP, SIGNATURE, BODY);
    assertThat(verifier.sign(ID, 1614265330L, BODY)).isEqualTo(SIGNATURE);
  }

  @Test
  void aWrongSecretIsRefused() {
    WebhookRejected e =
        rejected(() -> at(1614265330L, OTHER_SECRET).verify(ID, TIMESTAMP, SIGNATURE, BODY));
    assertThat(e.status()).isEqualTo(401);
  }

  @Test
  void aTamperedBodyIsRefused() {
    byte[] tampered = "{\"test\": 2432232315}".getBytes(StandardCharsets.UTF_8);
    assertThat(
            rejected(() -> at(1614265330L, SECRET).verify(ID, TIMESTAMP, SIGNATURE, tampered))
                .status())
        .isEqualTo(401);
  }

  @Test
  void timestampsBeyondFiveMinutesEitherWayAreRefused() throws Exception {
    at(1614265330L + 300, SECRET).verify(ID, TIMESTAMP, SIGNATURE, BODY);
    at(1614265330L - 300, SECRET).verify(ID, TIMESTAMP, SIGNATURE, BODY);
    WebhookRejected old =
        rejected(() -> at(1614265330L + 301, SECRET).verify(ID, TIMESTAMP, SIGNATURE, BODY));
    assertThat(old.status()).isEqualTo(401);
    assertThat(old).hasMessageContaining("too old");
    WebhookRejected future =
        rejected(() -> at(1614265330L - 301, SECRET).verify(ID, TIMESTAMP, SIGNATURE, BODY));
    assertThat(future.status()).isEqualTo(401);
    assertThat(future).hasMessageContaining("future");
  }

  @Test
  void oneValidSignatureAmongSeveralIsEnough() throws Exception {
    at(1614265330L, SECRET)
        .verify(ID, TIMESTAMP, "v1,Zm9vYmFyYmF6 " + SIGNATURE + " v1,bm9wZQ==", BODY);
  }

  @Test
  void entriesOfOtherVersionsAreSkipped() {
    String v1a = "v1a," + SIGNATURE.substring(3);
    assertThat(rejected(() -> at(1614265330L, SECRET).verify(ID, TIMESTAMP, v1a, BODY)).status())
        .isEqualTo(401);
  }

  @Test
  void rotatedSecretsAreAcceptedTogether() throws Exception {
    at(1614265330L, OTHER_SECRET, SECRET).verify(ID, TIMESTAMP, SIGNATURE, BODY);
    WebhookVerifier other = at(1614265330L, OTHER_SECRET);
    String byOther = other.sign(ID, 1614265330L, BODY);
    at(1614265330L, SECRET, OTHER_SECRET).verify(ID, TIMESTAMP, byOther, BODY);
  }

  @Test
  void missingOrMalformedHeadersAreBadRequests() {
    WebhookVerifier v = at(1614265330L, SECRET);
    assertThat(rejected(() -> v.verify(null, TIMESTAMP, SIGNATURE, BODY)).status()).isEqualTo(400);
    assertThat(rejected(() -> v.verify(ID, null, SIGNATURE, BODY)).status()).isEqualTo(400);
    assertThat(rejected(() -> v.verify(ID, TIMESTAMP, null, BODY)).status()).isEqualTo(400);
    assertThat(rejected(() -> v.verify(ID, "yesterday", SIGNATURE, BODY)).status()).isEqualTo(400);
    assertThat(rejected(() -> v.verify(ID, TIMESTAMP, "garbage", BODY)).status()).isEqualTo(400);
  }

  @Test
  void unreadableSecretsAreNamedByPositionNotValue() {
    assertThatThrownBy(() -> at(0, SECRET, "whsec_not base64!"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("secret #2 is not whsec_ followed by base64");
  }
}
