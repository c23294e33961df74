/**
 * Idempotency records: what a command with a client's `idempotency-key`
 * answered, kept next to the state it changed. A record is written in the
 * same transaction as the command's events, value or durable work, so a
 * command is either committed with its record or not at all: a retry after
 * any failure either finds the record (and gets the first answer) or finds
 * nothing committed (and runs the command). The store treats the outcome as
 * opaque bytes; the runtime decides what they mean.
 *
 * Records are scoped by component instance (entity type and id; an action's
 * service name with an empty id), bounded in number per instance (the oldest
 * beyond the bound are dropped in the transaction that adds a new one) and
 * removed after a retention period by {@link IdempotencyStore.expireIdempotency}.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { EntityRef, StoredPayload } from "./types.js";

/** Records one instance keeps unless StoreOptions.maxIdempotencyKeysPerEntity says otherwise. */
export const DEFAULT_MAX_IDEMPOTENCY_KEYS_PER_ENTITY = 10_000;

/** Longest idempotency key, in UTF-16 code units (Stripe allows 255). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** A record to store with a write (field `idempotency` of DurableWork). */
export interface IdempotencyWrite extends EntityRef {
  /** The client's key, unique per instance. */
  readonly key: string;
  /** A digest of the request (method and body): a repeat with another body is refused. */
  readonly requestHash: string;
  /** What the command answered, encoded by the runtime. */
  readonly outcome: StoredPayload;
}

/** A stored record, as {@link IdempotencyStore.loadIdempotency} returns it. */
export interface IdempotencyRecord extends IdempotencyWrite {
  /** Commit time, epoch milliseconds. */
  readonly createdAt: number;
}

/** The store side of idempotency records; every adapter implements it. */
export interface IdempotencyStore {
  /** The record of `key` for the instance `ref`, if one is kept. */
  loadIdempotency(ref: EntityRef, key: string): Promise<IdempotencyRecord | undefined>;
  /**
   * Removes up to `limit` records committed before `before` (epoch ms),
   * oldest first; resolves to how many it removed. Group-committed.
   */
  expireIdempotency(before: number, limit: number): Promise<number>;
}

/** A record's row as both SQL adapters select it (`created_at` is a string for a PostgreSQL BIGINT). */
export interface IdempotencyRow {
  readonly request_hash: string;
  readonly type_url: string;
  readonly outcome: Buffer;
  readonly created_at: number | string;
}

/** The record of `key` for `ref` from its row, the outcome a plain Uint8Array view of the row's bytes. */
export function recordFromRow(ref: EntityRef, key: string, row: IdempotencyRow): IdempotencyRecord {
  const bytes = row.outcome;
  return {
    entityType: ref.entityType,
    entityId: ref.entityId,
    key,
    requestHash: row.request_hash,
    outcome: {
      typeUrl: row.type_url,
      value: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    },
    createdAt: Number(row.created_at),
  };
}

/** Key of an instance's records; the NUL separator cannot occur in a type name. */
export function instanceKey(ref: EntityRef): string {
  return `${ref.entityType}\u0000${ref.entityId}`;
}

/** The error of a malformed record, caught before it can poison a batch; `where` names the write. */
export function validateIdempotency(
  records: readonly IdempotencyWrite[] | undefined,
  where: string,
): CairnError | undefined {
  for (const r of records ?? []) {
    if (typeof r.entityType !== "string" || r.entityType === "" || typeof r.entityId !== "string") {
      return invalid(`an idempotency record of ${where} has no entity type or id; pass both`);
    }
    const problem = checkIdempotencyKey(r.key);
    if (problem !== undefined) return invalid(`${problem} (in ${where})`);
    if (typeof r.requestHash !== "string" || r.requestHash === "") {
      return invalid(`idempotency record '${r.key}' of ${where} has no request hash`);
    }
    if (!(r.outcome?.value instanceof Uint8Array) || typeof r.outcome.typeUrl !== "string") {
      return invalid(`idempotency record '${r.key}' of ${where} has no outcome`);
    }
  }
  return undefined;
}

/**
 * Why `key` is not a usable idempotency key, if it is not: it must be 1 to
 * {@link MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters (what an HTTP
 * header and gRPC metadata carry unchanged).
 */
export function checkIdempotencyKey(key: unknown): string | undefined {
  if (typeof key !== "string" || key === "") {
    return "idempotency-key is empty; send 1 to 255 printable ASCII characters, e.g. a UUID";
  }
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return `idempotency-key is ${key.length} characters long, over the limit of ${MAX_IDEMPOTENCY_KEY_LENGTH}; use a shorter key such as a UUID`;
  }
  if (!/^[\x20-\x7e]+$/.test(key)) {
    return `idempotency-key '${key.replace(/[^\x20-\x7e]/g, "?")}' has characters outside printable ASCII; use letters, digits and punctuation only`;
  }
  return undefined;
}

function invalid(message: string): CairnError {
  return new CairnError(Code.InvalidArgument, message);
}
