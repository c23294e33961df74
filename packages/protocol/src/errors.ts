/**
 * gRPC status codes, the closed set of error codes used on every Cairn wire
 * (client ingress, runtime ⇄ function protocol). Numbers are gRPC's.
 */
export enum Code {
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** Options of {@link CairnError}. */
export interface CairnErrorOptions {
  /** The underlying error, kept for logs; never sent to clients. */
  cause?: unknown;
  /** Retryable failures may succeed when tried again (UNAVAILABLE, ABORTED...). */
  retryable?: boolean;
  /**
   * The command's state change and asynchronous effects were committed before
   * this failure (a synchronous effect failed after the commit): retrying
   * without the command's idempotency-key applies the change again.
   */
  committed?: boolean;
}

/**
 * Response metadata key (HTTP header, gRPC trailer) that marks a failure
 * after the commit: its value is "true". The HTTP/JSON and Connect error
 * bodies say it as `"committed": true`.
 */
export const COMMITTED_KEY = "cairn-committed";

const RETRYABLE = new Set<Code>([Code.Unavailable, Code.Aborted, Code.ResourceExhausted]);

/**
 * The one error type of Cairn: a gRPC code and a message meant for the
 * client. Anything thrown is normalised with {@link CairnError.from}.
 *
 * @example
 * ```ts
 * throw new CairnError(Code.FailedPrecondition, "cart 'c1' is checked out");
 * ```
 */
export class CairnError extends Error {
  override readonly name = "CairnError";
  readonly code: Code;
  readonly retryable: boolean;
  /** True when the command committed before it failed; see {@link CairnErrorOptions.committed}. */
  readonly committed: boolean;

  constructor(code: Code, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.committed = options.committed ?? false;
    // A committed failure is never worth a blind retry, whatever its code.
    this.retryable = !this.committed && (options.retryable ?? RETRYABLE.has(code));
  }

  /** Normalises anything thrown: a CairnError stays as is, anything else becomes INTERNAL. */
  static from(err: unknown, fallback: Code = Code.Internal): CairnError {
    if (err instanceof CairnError) return err;
    if (err instanceof Error) return new CairnError(fallback, err.message, { cause: err });
    return new CairnError(fallback, String(err), { cause: err });
  }
}

/** Name of a code as gRPC writes it, e.g. `FAILED_PRECONDITION`. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
