import { randomUUID } from "node:crypto";
import { CairnError, Code, codeName } from "@cairn/protocol";

/**
 * HTTP status for a code, by Google's mapping (google.rpc.Code docs), which
 * Connect's unary protocol uses as well.
 */
const HTTP_STATUS: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** HTTP status of a gRPC code (Google's and Connect's mapping). */
export function httpStatusOf(code: Code): number {
  return HTTP_STATUS[code] ?? 500;
}

/** Connect's name of a code: `failed_precondition`, `canceled`. */
export function connectCodeName(code: Code): string {
  return codeName(code).toLowerCase().replace("cancelled", "canceled");
}

/** Message clients see when the user function has not been discovered yet. */
export const UNDISCOVERED_MESSAGE =
  "user function not discovered yet: the runtime has not reached the user function; retry shortly";

/** The error every call gets before the catalog exists. */
export function undiscoveredError(): CairnError {
  return new CairnError(Code.Unavailable, UNDISCOVERED_MESSAGE);
}

/**
 * The error a client gets for a failure the runtime did not expect: INTERNAL
 * with a correlation id, under which the failure itself is logged (its text
 * may hold internals that clients must not see).
 */
export class InternalError extends CairnError {
  readonly correlationId: string;
  constructor(cause: unknown) {
    const correlationId = randomUUID();
    super(
      Code.Internal,
      `internal error (correlation id ${correlationId}); the runtime's log has the details`,
      {
        cause,
      },
    );
    this.correlationId = correlationId;
  }
}

/**
 * Normalises a dispatcher failure: a CairnError keeps its code and message;
 * anything else becomes an {@link InternalError}, whose correlation id the
 * caller logs with the failure ({@link logInternal}).
 */
export function toClientError(err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  return new InternalError(err);
}

/** Logs an unexpected failure under the correlation id its client was given. */
export function logInternal(
  logger: { error(obj: object, msg?: string): void },
  e: CairnError,
  fields: object,
  msg: string,
): void {
  if (!(e instanceof InternalError)) return;
  logger.error({ ...fields, err: e.cause, correlationId: e.correlationId }, msg);
}

/** A parse result of untrusted input. */
export type Parsed<T> = { value: T; error?: undefined } | { value?: undefined; error: CairnError };

const TIMEOUT_UNITS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** Parses a `grpc-timeout` header (`100m`, `5S`) into milliseconds. */
export function parseGrpcTimeout(value: string): Parsed<number> {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  const unit = match?.[2];
  if (match === null || unit === undefined) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `invalid grpc-timeout header '${value}': expected 1-8 digits and a unit H, M, S, m, u or n`,
      ),
    };
  }
  return { value: Number(match[1]) * (TIMEOUT_UNITS[unit] ?? 1) };
}

/** Parses a `connect-timeout-ms` header into milliseconds. */
export function parseConnectTimeout(value: string): Parsed<number> {
  if (!/^\d{1,10}$/.test(value)) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `invalid connect-timeout-ms header '${value}': expected 1-10 digits`,
      ),
    };
  }
  return { value: Number(value) };
}
