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
 * Normalises a dispatcher failure: a CairnError keeps its code and message;
 * anything else becomes INTERNAL with a generic message, because its text may
 * hold internals that clients must not see (it is logged instead).
 */
export function toClientError(err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  return new CairnError(Code.Internal, "internal error", { cause: err });
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
