package dev.idem.lock;

/**
 * Told when this elector becomes leader and when it stops being leader. Called on the election's
 * own thread; long work belongs on another thread. Exceptions are logged and ignored.
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
