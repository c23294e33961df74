/**
 * The replicas of this node: the runtime's copy of each replicated entity's
 * CRDT, which it merges every delta into (the function's and other
 * replicas'). The function's instance is a view the runtime initialises from
 * it; it never holds anything the runtime has not merged.
 *
 * Replica ids: a replica that starts from nothing gets this process's
 * replica id, random per runtime process, so an id is never reused by a
 * replica that lost its state (a non-durable entity after a restart). A
 * durable replica keeps the id it was stored with: every write under it was
 * stored before its reply was released and before it was shipped, so the
 * stored state holds every dot of that id and continuing it repeats none.
 *
 * Checks, so that bad input corrupts nothing: a delta of another CRDT type
 * than the entity's is refused, and so is one carrying new writes under a
 * replica id other than the writer's (the function's deltas must write only
 * under the id it was given; another node's never under one of ours).
 */
import { randomBytes } from "node:crypto";
import { createCrdt, CrdtError, readHeader } from "@cairn/crdt";
import type { AnyCrdt, TypeName } from "@cairn/crdt";
import { CairnError, Code } from "@cairn/protocol";
import type { ReplicatedDelta } from "@cairn/protocol";
import type { EntityRef, Store, StoredPayload } from "../../store/types.js";

/** What the runtime knows of a replicated entity type (from discovery). */
export interface ReplicatedType {
  /** A type name of @cairn/crdt (the catalog checked it). */
  readonly crdtType: string;
  readonly durable: boolean;
}

/** The runtime's replica of one entity. */
export interface Replica {
  readonly ref: EntityRef;
  readonly type: ReplicatedType;
  /** The id the function writes under. */
  readonly replicaId: string;
  crdt: AnyCrdt;
  /** False while the replica holds nothing (never written, or deleted). */
  written: boolean;
  /** Version of the stored state (durable only; 0 when none is stored). */
  version: number;
  /** The store write in progress, if any (writes of one replica run one at a time). */
  saving: Promise<void>;
}

/** Type URL prefix of a stored replica state. */
export const STORED_TYPE_PREFIX = "crdt.cairn.dev/";

const key = (ref: EntityRef) => `${ref.entityType}\u0000${ref.entityId}`;

/** A random replica id for this runtime process. */
export function processReplicaId(): string {
  return `r-${randomBytes(9).toString("base64url")}`;
}

/** The replicas of this node; see the module doc. */
export class Replicas {
  private readonly replicas = new Map<string, Replica>();

  constructor(
    private readonly store: Store,
    /** The replica id of fresh replicas in this process. */
    readonly replicaId: string = processReplicaId(),
  ) {}

  /** Number of replicas in memory. */
  get size(): number {
    return this.replicas.size;
  }

  /** The replica in memory, if any. */
  peek(ref: EntityRef): Replica | undefined {
    return this.replicas.get(key(ref));
  }

  /** The replica in memory by its key (`entityType`, NUL, `entityId`). */
  peekKey(k: string): Replica | undefined {
    return this.replicas.get(k);
  }

  /** The replica of `ref`: in memory, else stored (durable types), else a fresh one. */
  async load(ref: EntityRef, type: ReplicatedType): Promise<Replica> {
    const known = this.replicas.get(key(ref));
    if (known !== undefined) return known;
    const stored = type.durable ? await this.store.loadValue(ref) : undefined;
    // A command of another activation may have loaded it meanwhile.
    const again = this.replicas.get(key(ref));
    if (again !== undefined) return again;
    const replica =
      stored === undefined
        ? this.fresh(ref, type, this.replicaId)
        : this.decodeStored(ref, type, stored.state, stored.version);
    this.replicas.set(key(ref), replica);
    return replica;
  }

  /**
   * Why `delta` may not be merged into `replica` as a write of the function
   * (`from` undefined: it may write only under the replica's id) or of
   * another node `from` (it may never write under this node's ids), or
   * undefined when it may. Changes nothing.
   */
  check(
    replica: Replica,
    delta: ReplicatedDelta | undefined,
    from?: string,
  ): CairnError | undefined {
    const label = `${replica.ref.entityType}/${replica.ref.entityId}`;
    const expected = replica.type.crdtType;
    // The function's bad delta is a bug on the server side (INTERNAL to the
    // client, whose request was fine); another node's is bad input.
    const code = from === undefined ? Code.Internal : Code.InvalidArgument;
    if (delta === undefined || delta.type !== expected) {
      return new CairnError(
        code,
        `delta of the wrong CRDT type for replicated entity ${label}: the entity's type is ${expected}, the delta says ${delta?.type || "nothing"}; nothing was merged`,
      );
    }
    try {
      const header = readHeader(delta.encoded);
      if (header.type !== expected) {
        return new CairnError(
          code,
          `delta of the wrong CRDT type for replicated entity ${label}: the entity's type is ${expected}, the delta's bytes are a ${header.type}; nothing was merged`,
        );
      }
      const writers = replica.crdt.unseenWriters(delta.encoded);
      const mine = (w: string) => w === replica.replicaId || w === this.replicaId;
      const foreign = writers.filter((w) =>
        from === undefined ? w !== replica.replicaId : mine(w),
      );
      if (foreign.length > 0) {
        const ids = foreign.map((f) => `'${f}'`).join(", ");
        const writer =
          from === undefined
            ? `the user function (given replica id '${replica.replicaId}')`
            : `node '${from}'`;
        return new CairnError(
          code,
          `replica id clash on replicated entity ${label}: a delta from ${writer} carries new writes under replica id ${ids}; a replica writes only under its own id; nothing was merged`,
        );
      }
    } catch (err) {
      if (err instanceof CrdtError) {
        return new CairnError(
          code,
          `unusable delta for replicated entity ${label} (${err.code}): ${err.message}; nothing was merged`,
        );
      }
      throw err;
    }
    return undefined;
  }

  /** Merges a checked delta. */
  merge(replica: Replica, delta: ReplicatedDelta): void {
    (replica.crdt as { merge(b: Uint8Array): void }).merge(delta.encoded);
    replica.written = true;
  }

  /** Empties a replica (the entity was deleted); it keeps its replica id. */
  clear(replica: Replica): void {
    replica.crdt = createCrdt(replica.type.crdtType as TypeName, replica.replicaId);
    replica.written = false;
  }

  /** Stores a durable replica's state (or deletes it when empty after a delete); resolves to its new version. */
  async save(
    replica: Replica,
    deleted: boolean,
    extras: Omit<
      Parameters<Store["saveValue"]>[0],
      "entityType" | "entityId" | "expectedVersion" | "state"
    >,
  ): Promise<number> {
    // One write at a time per replica: each expects the version the previous one made.
    const run = replica.saving.then(async () => {
      replica.version = await this.store.saveValue({
        ...replica.ref,
        ...extras,
        expectedVersion: replica.version,
        state: deleted ? undefined : this.encodeStored(replica),
      });
      return replica.version;
    });
    replica.saving = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * The entity was passivated: forgets its replica if the store holds it
   * (durable types) or if it holds nothing. A non-durable replica with state
   * stays: this node's memory is where that state lives.
   */
  evict(ref: EntityRef): void {
    const replica = this.replicas.get(key(ref));
    if (replica === undefined) return;
    if (replica.type.durable || !replica.written) this.replicas.delete(key(ref));
  }

  private fresh(ref: EntityRef, type: ReplicatedType, replicaId: string): Replica {
    const crdt = createCrdt(type.crdtType as TypeName, replicaId);
    return { ref, type, replicaId, crdt, written: false, version: 0, saving: Promise.resolve() };
  }

  /** Stored form: the replica id (length-prefixed UTF-8), then the encoded state. */
  private encodeStored(replica: Replica): StoredPayload {
    const id = new TextEncoder().encode(replica.replicaId);
    const state = replica.crdt.encodeState();
    const value = new Uint8Array(2 + id.length + state.length);
    value[0] = id.length >> 8;
    value[1] = id.length & 0xff;
    value.set(id, 2);
    value.set(state, 2 + id.length);
    return { typeUrl: `${STORED_TYPE_PREFIX}${replica.type.crdtType}`, value };
  }

  private decodeStored(
    ref: EntityRef,
    type: ReplicatedType,
    payload: StoredPayload,
    version: number,
  ): Replica {
    const label = `${ref.entityType}/${ref.entityId}`;
    if (payload.typeUrl !== `${STORED_TYPE_PREFIX}${type.crdtType}`) {
      throw new CairnError(
        Code.FailedPrecondition,
        `the stored state of replicated entity ${label} is '${payload.typeUrl}', not a ${type.crdtType}; was the entity type's CRDT changed? Give the new type another entityType`,
      );
    }
    const v = payload.value;
    const length = ((v[0] ?? 0) << 8) | (v[1] ?? 0);
    const replicaId = new TextDecoder().decode(v.subarray(2, 2 + length));
    const replica = this.fresh(ref, type, replicaId);
    (replica.crdt as { merge(b: Uint8Array): void }).merge(v.subarray(2 + length));
    replica.written = true;
    replica.version = version;
    return replica;
  }
}
