package dev.idem.spring.boot;

import dev.idem.IdemException;

/**
 * A property of idem's in the Spring environment (or the application's set-up around it) was
 * refused at start-up. The message names the property, what is wrong and the fix; Boot's start-up
 * failure report shows the two apart.
 */
public class InvalidIdemPropertyException extends IdemException {
  private static final long serialVersionUID = 1L;

  private final String property;
  private final String problem;
  private final String action;

  /**
   * @param property the property as the application writes it (e.g. {@code
   *     idem.consumers.ledger.lock-timeout}), or what is misconfigured
   * @param problem what is wrong
   * @param action how to fix it
   */
  public InvalidIdemPropertyException(String property, String problem, String action) {
    this(property, problem, action, null);
  }

  InvalidIdemPropertyException(String property, String problem, String action, Throwable cause) {
    super(property + ": " + problem + "; " + action, cause);
    this.property = property;
    this.problem = problem;
    this.action = action;
  }

  /** The property that was refused. */
  public String property() {
    return property;
  }

  /** What is wrong with it. */
  public String problem() {
    return problem;
  }

  /** How to fix it. */
  public String action() {
    return action;
  }
}
