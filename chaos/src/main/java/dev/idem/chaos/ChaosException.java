package dev.idem.chaos;

/** A chaos run could not be set up or carried out (not a broken invariant: those are results). */
public class ChaosException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ChaosException(String message) {
    super(message);
  }

  public ChaosException(String message, Throwable cause) {
    super(message, cause);
  }
}
