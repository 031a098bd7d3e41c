package dev.idem.bench;

import dev.idem.example.webhook.LedgerHandler;
import dev.idem.example.webhook.PaymentEvent;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The webhook scenarios' records: the same events and copies as {@link Workload} (same ids, same
 * 20% copies), as payment webhooks of the example ({@link PaymentEvent}'s JSON: {@code type},
 * {@code account}, {@code amount}, {@code currency}, plus the fields a payment provider sends
 * around them, about {@value #PAYLOAD_BYTES} bytes each) over {@value #ACCOUNTS} accounts. Keyed by
 * account, partitioned by key as the example's publisher does, so a copy lands in its original's
 * partition.
 */
final class WebhookWorkload {
  static final int ACCOUNTS = 200;
  static final int PAYLOAD_BYTES = 1024;

  private static final String[] CURRENCIES = {"EUR", "USD", "GBP"};
  private static final String NOTE =
      "Thank you for your order. Items ship within two working days; tracking follows by email. ";

  final Workload records;

  WebhookWorkload(Workload records) {
    this.records = records;
  }

  /** The account of event {@code n}: also the record key. */
  static String account(int n) {
    return "acct_" + (n % ACCOUNTS);
  }

  static String currency(int n) {
    return CURRENCIES[(n % ACCOUNTS) % CURRENCIES.length];
  }

  /** 70% payments in, 20% refunds, 10% payouts: every sign of the ledger. */
  static String type(int n) {
    int k = n % 10;
    return k < 7 ? "payment.succeeded" : k < 9 ? "payment.refunded" : "payout.paid";
  }

  static long amount(int n) {
    return 100 + (n * 7919L) % 100_000;
  }

  /** The webhook body of event {@code n}, {@value #PAYLOAD_BYTES} bytes of JSON. */
  static byte[] payload(int n) {
    int customer = (n * 31) % 50_000;
    StringBuilder sb = new StringBuilder(PAYLOAD_BYTES + 64);
    sb.append("{\"id\":\"evt_")
        .append(n)
        .append("\",\"object\":\"event\",\"api_version\":\"2026-11-01\",\"created\":")
        .append(1_767_225_600L + n)
        .append(",\"type\":\"")
        .append(type(n))
        .append("\",\"account\":\"")
        .append(account(n))
        .append("\",\"amount\":")
        .append(amount(n))
        .append(",\"currency\":\"")
        .append(currency(n))
        .append("\",\"livemode\":false,\"pending_webhooks\":1,\"request\":{\"id\":\"req_")
        .append(Integer.toHexString(n * 40_503 + 7))
        .append("\",\"idempotency_key\":\"order-")
        .append(n)
        .append("-attempt-1\"},\"data\":{\"object\":{\"id\":\"pi_")
        .append(n)
        .append("\",\"object\":\"payment_intent\",\"capture_method\":\"automatic\",\"customer\":")
        .append("\"cus_")
        .append(customer)
        .append("\",\"description\":\"Order ord_")
        .append(n)
        .append(" from the web shop\",\"payment_method_types\":[\"card\"],\"receipt_email\":")
        .append("\"customer")
        .append(customer)
        .append("@example.com\",\"statement_descriptor\":\"IDEM SHOP\",\"billing_details\":")
        .append("{\"name\":\"Customer ")
        .append(customer)
        .append("\",\"phone\":\"+44 20 7946 ")
        .append(String.format(Locale.ROOT, "%04d", customer % 10_000))
        .append("\",\"address\":{\"line1\":\"")
        .append(1 + customer % 200)
        .append(" High Street\",\"line2\":null,\"city\":\"London\",\"postal_code\":\"EC1A 1BB\",")
        .append("\"country\":\"GB\"}},\"card\":{\"brand\":\"visa\",\"last4\":\"")
        .append(String.format(Locale.ROOT, "%04d", (n * 13) % 10_000))
        .append("\",\"exp_month\":")
        .append(1 + n % 12)
        .append(",\"exp_year\":2030,\"fingerprint\":\"fp")
        .append(Integer.toHexString(customer * 977))
        .append("\"},\"metadata\":{\"order_id\":\"ord_")
        .append(n)
        .append("\",\"cart_items\":\"")
        .append(1 + n % 7)
        .append("\",\"channel\":\"web\",\"campaign\":\"winter-sale\",\"note\":\"");
    // The note pads every body to the same size; the closing braces follow it.
    String end = "\"}}}}";
    while (sb.length() + end.length() < PAYLOAD_BYTES) {
      sb.append(NOTE, 0, Math.min(NOTE.length(), PAYLOAD_BYTES - end.length() - sb.length()));
    }
    sb.append(end);
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  /**
   * What the ledger must hold after a run: per account, its currency and the sum of its unique
   * events' signed amounts (each event once, whatever its copies).
   */
  Map<String, Long> expectedBalances() {
    Map<String, Long> balances = new TreeMap<>();
    for (int n = 0; n < records.unique; n++) {
      long signed =
          LedgerHandler.signedAmount(new PaymentEvent(type(n), account(n), amount(n), currency(n)));
      balances.merge(account(n) + "/" + currency(n), signed, Long::sum);
    }
    return balances;
  }
}
