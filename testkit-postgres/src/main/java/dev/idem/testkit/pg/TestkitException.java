package dev.idem.testkit.pg;

/** Thrown when test infrastructure cannot be started, reached or controlled. */
public class TestkitException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public TestkitException(String message) {
    super(message);
  }

  public TestkitException(String message, Throwable cause) {
    super(message, cause);
  }
}
