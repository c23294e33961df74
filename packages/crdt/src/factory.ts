/**
 * Creating CRDTs by type name, for code (the runtime) that learns the type
 * from a `ReplicatedDelta.type` or an encoding's header.
 */
import { readHeader } from "./envelope.js";
import { CrdtError } from "./errors.js";
import type { TypeName } from "./kernel.js";
import { GCounter, PNCounter } from "./types/counters.js";
import { Flag, Vote } from "./types/flag-vote.js";
import { LWWRegister } from "./types/lww-register.js";
import { ORMap } from "./types/or-map.js";
import { GSet, ORSet } from "./types/sets.js";

/** Any of the CRDT types. */
export type AnyCrdt =
  GCounter | PNCounter | GSet | ORSet | LWWRegister | Flag | ORMap<never> | Vote;

const constructors: Record<TypeName, new (replicaId: string) => AnyCrdt> = {
  GCounter,
  PNCounter,
  GSet,
  ORSet,
  LWWRegister,
  Flag,
  ORMap,
  Vote,
};

/**
 * An empty CRDT of the named type.
 *
 * @example
 * const counter = createCrdt("PNCounter", "node-1");
 */
export function createCrdt(type: TypeName, replicaId: string): AnyCrdt {
  const ctor = constructors[type] as (new (replicaId: string) => AnyCrdt) | undefined;
  if (ctor === undefined) {
    throw new CrdtError(
      "invalid-argument",
      `unknown CRDT type ${JSON.stringify(type)}; expected one of ${Object.keys(constructors).join(", ")}`,
    );
  }
  return new ctor(replicaId);
}

/**
 * Decodes an encoded state (or delta) into a new CRDT of the type named in
 * its header, owned by `replicaId`.
 *
 * @example
 * const copy = decodeState(counter.encodeState(), "node-2");
 */
export function decodeState(bytes: Uint8Array, replicaId: string): AnyCrdt {
  const crdt = createCrdt(readHeader(bytes).type, replicaId);
  (crdt as { merge(b: Uint8Array): void }).merge(bytes);
  return crdt;
}
