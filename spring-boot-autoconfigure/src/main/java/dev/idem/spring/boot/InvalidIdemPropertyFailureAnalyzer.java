package dev.idem.spring.boot;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** Shows a refused idem property in Boot's start-up failure report: the property, then the fix. */
final class InvalidIdemPropertyFailureAnalyzer
    extends AbstractFailureAnalyzer<InvalidIdemPropertyException> {

  @Override
  protected FailureAnalysis analyze(Throwable root, InvalidIdemPropertyException cause) {
    return new FailureAnalysis(
        "idem refused " + cause.property() + ": " + cause.problem(),
        "Fix " + cause.property() + ": " + cause.action(),
        cause);
  }
}
