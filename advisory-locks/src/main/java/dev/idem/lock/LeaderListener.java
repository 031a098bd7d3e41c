package dev.idem.lock;

/**
 * Told when this elector becomes leader and when it stops being leader. Called on the election's
 * callback thread, one call at a time and in order ({@code elected} before its {@code revoked}),
 * never on the thread that keeps the leadership alive: a slow callback does not cost the
 * leadership, but it delays the calls after it, so a {@code revoked} can come late behind a slow
 * {@code elected}; the fencing token protects writes in the meantime. Long work still belongs on
 * another thread. Exceptions are logged and ignored.
 */
public interface LeaderListener {

  /** This elector is leader under {@code token} from now on. */
  void elected(FencingToken token);

  /**
   * This elector is no longer (or can no longer prove it is) leader: stop leader-only work. Fenced
   * writes with {@code token} may already be refused.
   */
  void revoked(FencingToken token);
}
