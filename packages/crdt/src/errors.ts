/**
 * Why a CRDT operation was refused. A closed set so the runtime can map each
 * code onto a gRPC status without parsing messages:
 * - `invalid-argument`: a bad input to a local mutation (negative increment, empty replica id, unencodable element);
 * - `type-mismatch`: two different CRDT types met (merge, delta, or an ORMap value read as the wrong type);
 * - `malformed`: bytes that are not a valid encoding (truncated, inconsistent);
 * - `unsupported-version`: an encoding written by a newer format version.
 */
export type CrdtErrorCode =
  "invalid-argument" | "type-mismatch" | "malformed" | "unsupported-version";

/**
 * The one error type thrown by `@cairn/crdt`. Messages name the thing, the
 * value and the fix.
 *
 * @example
 * try { counter.increment(-1); } catch (e) { if (e instanceof CrdtError && e.code === "invalid-argument") ... }
 */
export class CrdtError extends Error {
  override readonly name = "CrdtError";
  /** What kind of failure this is. */
  readonly code: CrdtErrorCode;

  constructor(code: CrdtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
