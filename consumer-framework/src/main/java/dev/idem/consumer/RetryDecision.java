package dev.idem.consumer;

/** What to do with a record whose processing failed. */
public enum RetryDecision {
  /** Roll back and try again after the policy's backoff, while attempts remain. */
  RETRY,
  /** Roll back and give up now: the record is dead-lettered and processing goes on. */
  GIVE_UP
}
