/**
 * Kernels of the dot-map types (GSet, ORSet, ORMap) and the registry from
 * type code to kernel that ORMap needs to decode nested values.
 */
import { malformed } from "../codec.js";
import type { Reader } from "../codec.js";
import type { Kernel, TypeName } from "../kernel.js";
import { parseCanonical } from "../value.js";
import type { Value } from "../value.js";
import {
  checkDotMap,
  forEachDotMap,
  joinDotMap,
  readDotMap,
  restrictDotMap,
  writeDotMap,
} from "./dot-map.js";
import type { DotMap } from "./dot-map.js";
import { flagKernel, gCounterKernel, lwwKernel, pnCounterKernel, voteKernel } from "./registers.js";

const parseKeyOf = (json: string): Value => parseCanonical(json, "key");

// Element entries of a set are dot sets: a dot function to null, like Flag's store.
const elementKernel = flagKernel as Kernel<unknown>;

function setKernel(typeName: TypeName, code: number): Kernel<DotMap> {
  return {
    typeName,
    code,
    empty: () => new Map(),
    isEmpty: (s) => s.size === 0,
    join: joinDotMap,
    check: () => undefined,
    forEachDot: forEachDotMap,
    restrict: restrictDotMap,
    write: (w, s, table) => writeDotMap(w, s, table, false),
    read: (r) => readDotMap(r, () => elementKernel, parseKeyOf),
    valueOf: (s) => sortedValues(s),
  };
}

/** Set elements in canonical-key order, so every replica lists them identically. */
export function sortedValues(s: DotMap): Value[] {
  return [...s.keys()].sort().map((k) => s.get(k)!.key);
}

export const gSetKernel = setKernel("GSet", 3);
export const orSetKernel = setKernel("ORSet", 4);

export const orMapKernel: Kernel<DotMap> = {
  typeName: "ORMap",
  code: 7,
  empty: () => new Map(),
  isEmpty: (s) => s.size === 0,
  join: joinDotMap,
  check: checkDotMap,
  forEachDot: forEachDotMap,
  restrict: restrictDotMap,
  write: (w, s, table) => writeDotMap(w, s, table, true),
  read: (r) => readDotMap(r, readKernel, parseKeyOf),
  valueOf(s) {
    const out = new Map<Value, unknown>();
    for (const k of [...s.keys()].sort()) {
      const e = s.get(k)!;
      out.set(e.key, e.kernel.valueOf(e.store));
    }
    return out;
  },
};

const byCode = new Map<number, Kernel<unknown>>();
const byName = new Map<TypeName, Kernel<unknown>>();
for (const k of [
  gCounterKernel,
  pnCounterKernel,
  gSetKernel,
  orSetKernel,
  lwwKernel,
  flagKernel,
  orMapKernel,
  voteKernel,
] as Kernel<unknown>[]) {
  byCode.set(k.code, k);
  byName.set(k.typeName, k);
}

function readKernel(r: Reader): Kernel<unknown> {
  const code = r.byte();
  const kernel = byCode.get(code);
  if (kernel === undefined) throw malformed(`unknown CRDT type code ${code}`);
  return kernel;
}

/** The kernel for a type code, if known. */
export function kernelByCode(code: number): Kernel<unknown> | undefined {
  return byCode.get(code);
}

/** The kernel for a type name. */
export function kernelByName(name: TypeName): Kernel<unknown> {
  return byName.get(name)!;
}
