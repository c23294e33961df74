/** Errors the CLI reports to its user: a message that says what to do, and an exit code. */

/** Exit codes: 1 for a failed operation, 2 for a usage mistake (bad flag, bad config). */
export const EXIT_FAILURE = 1;
/** Exit code of a usage mistake. */
export const EXIT_USAGE = 2;

/** A failure to print as is (no stack trace): the message already names the fix. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}
