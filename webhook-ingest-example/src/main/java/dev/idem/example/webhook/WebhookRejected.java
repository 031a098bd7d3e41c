package dev.idem.example.webhook;

/**
 * A webhook request refused before it reached Kafka, with the HTTP status it gets and a short
 * reason for the {@code webhook.requests.rejected} meter.
 */
public final class WebhookRejected extends Exception {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final String reason;

  /**
   * @param status the HTTP status: 400, 401 or 413
   * @param reason a fixed, short tag such as {@code bad-signature} (never request data)
   * @param message what the sender is told
   */
  public WebhookRejected(int status, String reason, String message) {
    super(message, null, false, false);
    this.status = status;
    this.reason = reason;
  }

  /** The HTTP status: 400, 401 or 413. */
  public int status() {
    return status;
  }

  /** The meter's reason tag. */
  public String reason() {
    return reason;
  }
}
