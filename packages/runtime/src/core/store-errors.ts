/**
 * The one mapping of store failures to what a client sees. Every place that
 * writes (entity appends and value saves, actions' durable work, activation
 * reads) goes through it, so one failure always answers one code.
 */
import { CairnError, Code } from "@cairn/protocol";
import { FencedError } from "../store/cluster.js";
import { SequenceConflictError, TimerLimitError } from "../store/types.js";

/**
 * The client's error for a failed store operation on `what` (e.g.
 * "the state of shop.Cart/c1"):
 * - another writer won (a {@link SequenceConflictError}): ABORTED, nothing
 *   applied, retry;
 * - a limit (a {@link TimerLimitError}): RESOURCE_EXHAUSTED with the limit
 *   and its option;
 * - this node lost the entity's shard (a {@link FencedError}): UNAVAILABLE,
 *   nothing applied; the shard's new owner serves a retry;
 * - a CairnError from the store (closed, invalid write) keeps its code;
 * - anything else (the database is down, a disk error): UNAVAILABLE.
 */
export function storeError(err: unknown, what: string): CairnError {
  if (err instanceof SequenceConflictError) {
    return new CairnError(
      Code.Aborted,
      `another writer changed ${what} concurrently; the command was not applied, retry it`,
      { cause: err },
    );
  }
  if (err instanceof FencedError) {
    return new CairnError(
      Code.Unavailable,
      `${what} was not stored: this node lost its shard (${err.message}); retry, the shard's owner will serve it`,
      { cause: err },
    );
  }
  if (err instanceof TimerLimitError) {
    return new CairnError(Code.ResourceExhausted, err.message, { cause: err });
  }
  if (err instanceof CairnError) {
    return new CairnError(err.code, `could not store ${what}: ${err.message}`, { cause: err });
  }
  return new CairnError(
    Code.Unavailable,
    `could not store ${what}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}
