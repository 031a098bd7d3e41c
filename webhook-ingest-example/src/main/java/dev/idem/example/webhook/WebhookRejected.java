package dev.idem.example.webhook;

/** A webhook request refused before it reached Kafka, with the HTTP status it gets. */
public final class WebhookRejected extends Exception {
  private static final long serialVersionUID = 1L;

  private final int status;

  public WebhookRejected(int status, String message) {
    super(message, null, false, false);
    this.status = status;
  }

  /** The HTTP status: 400, 401 or 413. */
  public int status() {
    return status;
  }
}
