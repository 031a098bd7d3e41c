package dev.idem.example.webhook;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * A webhook body of the small payments domain:
 *
 * <pre>{"type": "payment.succeeded", "account": "acct_42", "amount": 1250, "currency": "EUR"}</pre>
 *
 * <p>{@code amount} is a positive whole number of minor units (cents). The sign of the ledger entry
 * comes from the type; see {@link LedgerHandler}. Other fields are allowed and ignored.
 *
 * @param type the event type
 * @param account the account id (also the Kafka record key: one account's events stay in order)
 * @param amount the amount in minor units, positive
 * @param currency ISO 4217 code, three upper-case letters
 */
public record PaymentEvent(String type, String account, long amount, String currency) {
  // A body is one JSON value: "{...} trailing" is not JSON, and the signature does not make it so.
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final Pattern CURRENCY = Pattern.compile("[A-Z]{3}");

  /**
   * Reads and checks a body.
   *
   * @throws WebhookRejected 400 when the body is not JSON or not of this shape
   */
  public static PaymentEvent parse(byte[] body) throws WebhookRejected {
    if (body == null) {
      throw new WebhookRejected(400, "invalid-body", "no body");
    }
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (IOException e) {
      throw new WebhookRejected(400, "invalid-body", "body is not valid JSON");
    }
    if (root == null || !root.isObject()) {
      throw new WebhookRejected(400, "invalid-body", "body is not a JSON object");
    }
    JsonNode type = root.get("type");
    JsonNode account = root.get("account");
    JsonNode amount = root.get("amount");
    JsonNode currency = root.get("currency");
    if (type == null || !type.isTextual() || type.asText().isBlank()) {
      throw new WebhookRejected(400, "invalid-body", "body has no string field type");
    }
    if (account == null
        || !account.isTextual()
        || account.asText().isBlank()
        || account.asText().length() > 100) {
      throw new WebhookRejected(
          400, "invalid-body", "body has no string field account (1-100 characters)");
    }
    if (amount == null
        || !amount.canConvertToExactIntegral()
        || !amount.canConvertToLong()
        || amount.asLong() <= 0) {
      throw new WebhookRejected(
          400, "invalid-body", "body has no positive whole number field amount");
    }
    if (currency == null
        || !currency.isTextual()
        || !CURRENCY.matcher(currency.asText()).matches()) {
      throw new WebhookRejected(400, "invalid-body", "body has no three-letter field currency");
    }
    return new PaymentEvent(type.asText(), account.asText(), amount.asLong(), currency.asText());
  }

  /** The JSON body of this event. */
  public byte[] toJson() {
    ObjectNode node = JSON.createObjectNode();
    node.put("type", type).put("account", account).put("amount", amount).put("currency", currency);
    return node.toString().getBytes(StandardCharsets.UTF_8);
  }
}
