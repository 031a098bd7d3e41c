package dev.idem.spring.boot;

import dev.idem.lock.AdvisoryLocks;
import dev.idem.lock.RunResult;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.aopalliance.intercept.MethodInterceptor;
import org.aopalliance.intercept.MethodInvocation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.convert.DurationStyle;
import org.springframework.core.annotation.AnnotatedElementUtils;

/** Runs an {@link ExclusiveJob} method through {@link AdvisoryLocks}. */
final class ExclusiveJobInterceptor implements MethodInterceptor {
  private static final Logger log = LoggerFactory.getLogger(ExclusiveJobInterceptor.class);

  private final ObjectProvider<AdvisoryLocks> locks;
  private final Map<Method, Duration> windows = new ConcurrentHashMap<>();

  ExclusiveJobInterceptor(ObjectProvider<AdvisoryLocks> locks) {
    this.locks = locks;
  }

  @Override
  public Object invoke(MethodInvocation invocation) throws Throwable {
    Method method = invocation.getMethod();
    ExclusiveJob job = AnnotatedElementUtils.findMergedAnnotation(method, ExclusiveJob.class);
    if (job == null) {
      return invocation.proceed();
    }
    if (method.getReturnType().isPrimitive() && method.getReturnType() != void.class) {
      throw new IllegalStateException(
          "@ExclusiveJob method "
              + method
              + " returns a primitive; a skipped run returns null, so return void or an object"
              + " type");
    }
    AdvisoryLocks advisoryLocks = locks.getObject();
    RunResult<Object> result;
    try {
      if (job.oncePer().isBlank()) {
        result = advisoryLocks.runExclusive(job.name(), () -> proceed(invocation));
      } else {
        result =
            advisoryLocks.runOncePerWindow(
                job.name(), window(method, job), () -> proceed(invocation));
      }
    } catch (Failure f) {
      throw f.getCause();
    }
    if (result.skipped()) {
      log.debug("job {} skipped: {}", job.name(), result.skipReason());
      return null;
    }
    return result.value();
  }

  private Duration window(Method method, ExclusiveJob job) {
    return windows.computeIfAbsent(
        method,
        m -> {
          try {
            return DurationStyle.detectAndParse(job.oncePer().trim());
          } catch (IllegalArgumentException e) {
            throw new IllegalStateException(
                "@ExclusiveJob(oncePer = \""
                    + job.oncePer()
                    + "\") on "
                    + m
                    + " is not a duration; write 30s, 5m, 1h, 1d or ISO-8601",
                e);
          }
        });
  }

  private static Object proceed(MethodInvocation invocation) {
    try {
      return invocation.proceed();
    } catch (Throwable t) {
      throw new Failure(t);
    }
  }

  /** Carries the method's own exception through the lock's callback, unchanged. */
  private static final class Failure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Failure(Throwable cause) {
      super(cause);
    }
  }
}
