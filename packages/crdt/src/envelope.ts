/**
 * The versioned envelope around every encoded state, delta and context:
 *
 * ```
 * byte 0   format version (1)
 * byte 1   kind: 0 = state (joined by a full merge), 1 = delta (joined narrowly), 2 = context only
 * byte 2   type code: 1 GCounter, 2 PNCounter, 3 GSet, 4 ORSet, 5 LWWRegister, 6 Flag, 7 ORMap, 8 Vote
 * varint   replica count, then each replica id (UTF-8, sorted)
 * context  per replica: table index, range count, ranges as (gap from previous end, length - 1)
 * store    type-specific; dots are (replica index, counter)
 *          for kind 2 instead: a 64-bit digest of the live dots (two varint uint32)
 * ```
 * Everything is sorted, so equal states have byte-identical encodings.
 */
import {
  Reader,
  ReplicaTable,
  Writer,
  malformed,
  readContext,
  readReplicaTable,
  writeContext,
} from "./codec.js";
import type { DotContext } from "./dot-context.js";
import { compareDots } from "./dot.js";
import type { Dot } from "./dot.js";
import { CrdtError } from "./errors.js";
import type { Kernel, TypeName } from "./kernel.js";
import { kernelByCode } from "./kernels/maps.js";

/** The format version this library writes and reads. */
export const FORMAT_VERSION = 1;

/** What an encoding holds. */
export type EnvelopeKind = "state" | "delta" | "context";
const KIND_CODES: Record<EnvelopeKind, number> = { state: 0, delta: 1, context: 2 };
const KINDS: readonly EnvelopeKind[] = ["state", "delta", "context"];

/**
 * Encodes a store and its context; for kind "context", only the store's
 * digest is written.
 */
export function encodeEnvelope<S>(
  kind: EnvelopeKind,
  kernel: Kernel<S>,
  store: S,
  ctx: DotContext,
): Uint8Array {
  const w = new Writer();
  w.byte(FORMAT_VERSION);
  w.byte(KIND_CODES[kind]);
  w.byte(kernel.code);
  const table = new ReplicaTable();
  for (const r of ctx.replicas()) table.add(r);
  if (kind !== "context") kernel.forEachDot(store, (d) => table.add(d.replica));
  table.write(w);
  writeContext(w, ctx, table);
  if (kind !== "context") kernel.write(w, store, table);
  else for (const h of liveDigest(kernel, store)) w.uint(h);
  return w.finish();
}

/**
 * A 64-bit digest (two FNV-1a 32-bit hashes) of the sorted live dots. Equal
 * contexts do not imply equal states: a replica can learn that a dot exists
 * (from a later write's context) without learning what that dot's delta
 * removed. Equal contexts and equal live dots do imply equal states, since a
 * dot names one immutable write.
 */
export function liveDigest<S>(kernel: Kernel<S>, store: S): [number, number] {
  const dots: Dot[] = [];
  kernel.forEachDot(store, (d) => dots.push(d));
  dots.sort(compareDots);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ dots.length;
  const mix = (code: number): void => {
    h1 = Math.imul(h1 ^ code, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ code, 0x5bd1e995) >>> 0;
  };
  for (const d of dots) {
    for (let i = 0; i < d.replica.length; i++) mix(d.replica.charCodeAt(i));
    mix(0x10000);
    mix(d.counter % 0x100000000);
    mix(Math.floor(d.counter / 0x100000000));
  }
  return [h1, h2];
}

/** The header of an encoding, readable without knowing its type. */
export interface EnvelopeHeader {
  readonly version: number;
  readonly kind: EnvelopeKind;
  readonly type: TypeName;
}

/**
 * Reads an encoding's header: lets the runtime route `ReplicatedDelta` bytes
 * (or check its `type` field) without decoding the body.
 */
export function readHeader(bytes: Uint8Array): EnvelopeHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw new CrdtError(
      "invalid-argument",
      `expected encoded CRDT bytes (Uint8Array), got ${typeof bytes}`,
    );
  }
  if (bytes.length < 3)
    throw malformed(`only ${bytes.length} bytes, shorter than the 3-byte header`);
  const version = bytes[0]!;
  if (version !== FORMAT_VERSION) {
    throw new CrdtError(
      "unsupported-version",
      `CRDT encoding has format version ${version}, this @cairn/crdt reads version ${FORMAT_VERSION}; upgrade @cairn/crdt on this node`,
    );
  }
  const kind = KINDS[bytes[1]!];
  if (kind === undefined) throw malformed(`unknown envelope kind ${bytes[1]}`);
  const kernel = kernelByCode(bytes[2]!);
  if (kernel === undefined) throw malformed(`unknown CRDT type code ${bytes[2]}`);
  return { version, kind, type: kernel.typeName };
}

/** A decoded envelope. */
export interface Decoded<S> {
  readonly kind: EnvelopeKind;
  readonly ctx: DotContext;
  /** The store; undefined for kind "context". */
  readonly store: S | undefined;
  /** The live-dot digest; only for kind "context". */
  readonly digest?: readonly [number, number];
}

/** Decodes an encoding that must be of `kernel`'s type; `target` names the receiver in errors. */
export function decodeEnvelope<S>(
  bytes: Uint8Array,
  kernel: Kernel<S>,
  target: string,
): Decoded<S> {
  const header = readHeader(bytes);
  if (header.type !== kernel.typeName) {
    throw new CrdtError(
      "type-mismatch",
      `cannot use a ${header.type} ${header.kind} on ${target}: the types differ; route ${header.type} bytes to a ${header.type}`,
    );
  }
  const r = new Reader(bytes.subarray(3));
  readReplicaTable(r);
  const ctx = readContext(r);
  let store: S | undefined;
  let digest: [number, number] | undefined;
  if (header.kind === "context") digest = [r.uint(), r.uint()];
  else {
    store = kernel.read(r);
    // Invariant every join relies on: a store only holds dots its context has seen.
    kernel.forEachDot(store, (d) => {
      if (!ctx.has(d))
        throw malformed(`store dot ${d.replica}:${d.counter} is missing from its causal context`);
    });
  }
  if (!r.done) throw malformed("trailing bytes after the store");
  return digest === undefined
    ? { kind: header.kind, ctx, store }
    : { kind: header.kind, ctx, store, digest };
}
