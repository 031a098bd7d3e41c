package dev.idem.lock;

/** A fenced write was refused: a newer leader (a higher epoch) exists. */
public class StaleLeaderException extends LockException {
  private static final long serialVersionUID = 1L;

  private final transient FencingToken token;

  public StaleLeaderException(FencingToken token) {
    super(
        null,
        "epoch "
            + token.epoch()
            + " of "
            + token.namespace()
            + "/"
            + token.name()
            + " is no longer current: a newer leader was elected; this write is refused",
        null);
    this.token = token;
  }

  /** The stale token. */
  public FencingToken token() {
    return token;
  }
}
