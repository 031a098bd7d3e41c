package dev.idem.consumer.cli;

/** Argument reading shared by the command-line tools. */
final class Args {
  private Args() {}

  /** The value after {@code flag} at {@code args[i]}, or a clear error when it is missing. */
  static String value(String[] args, int i, String flag) {
    if (i >= args.length) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return args[i];
  }
}
