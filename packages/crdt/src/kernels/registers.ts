/**
 * Kernels of the dot-function types: GCounter, PNCounter, Vote, Flag and
 * LWWRegister. Type codes are part of the encoding and never change.
 */
import { parseCanonical } from "../value.js";
import type { Value } from "../value.js";
import { malformed } from "../codec.js";
import { compareDots } from "../dot.js";
import { dotFunKernel } from "./dot-fun.js";
import type { DotFun, Entry } from "./dot-fun.js";

/** PN-counter per-replica totals: increments and decrements, both non-negative. */
export interface PN {
  readonly p: number;
  readonly n: number;
}

/** A register write: timestamp plus the value (kept with its canonical JSON). */
export interface Stamped {
  readonly timestamp: number;
  readonly value: Value;
  readonly json: string;
}

/** The value of a {@link Vote}. */
export interface VoteValue {
  /** Replicas whose current vote is `true`. */
  readonly votesFor: number;
  /** Replicas that have voted (either way). */
  readonly voters: number;
  /** This replica's vote (`false` until it votes). */
  readonly selfVote: boolean;
}

/**
 * Sums each replica's latest entry. A replica's entries are running totals,
 * so only its latest counts. A state holds an older one only transiently:
 * after receiving a later delta of that replica but not the one between, until
 * that delta, a full state or anti-entropy arrives.
 */
export function sumLatest<V>(s: DotFun<V>, f: (v: V) => number): number {
  if (s.length <= 1) return s.length === 0 ? 0 : f(s[0]!.value);
  const latest = new Map<string, Entry<V>>();
  for (const e of s) {
    const prev = latest.get(e.dot.replica);
    if (prev === undefined || prev.dot.counter < e.dot.counter) latest.set(e.dot.replica, e);
  }
  let total = 0;
  for (const e of latest.values()) total += f(e.value);
  return total;
}

export const gCounterKernel = dotFunKernel<number>({
  typeName: "GCounter",
  code: 1,
  writeValue: (w, v) => w.uint(v),
  readValue: (r) => r.uint(),
  valueOf: (s) => sumLatest(s, (v) => v),
});

export const pnCounterKernel = dotFunKernel<PN>({
  typeName: "PNCounter",
  code: 2,
  writeValue(w, v) {
    w.uint(v.p);
    w.uint(v.n);
  },
  readValue: (r) => ({ p: r.uint(), n: r.uint() }),
  valueOf: (s) => sumLatest(s, (v) => v.p - v.n),
});

/** The winner by (timestamp, writer replica id, writer counter): a total order, so every replica picks the same. */
export function lwwWinner(s: DotFun<Stamped>): Entry<Stamped> | undefined {
  let best: Entry<Stamped> | undefined;
  for (const e of s) {
    if (best === undefined || compareStamped(e, best) > 0) best = e;
  }
  return best;
}

export function compareStamped(a: Entry<Stamped>, b: Entry<Stamped>): number {
  if (a.value.timestamp !== b.value.timestamp)
    return a.value.timestamp < b.value.timestamp ? -1 : 1;
  return compareDots(a.dot, b.dot);
}

export const lwwKernel = dotFunKernel<Stamped>({
  typeName: "LWWRegister",
  code: 5,
  writeValue(w, v) {
    w.f64(v.timestamp);
    w.string(v.json);
  },
  readValue(r) {
    const timestamp = r.f64();
    if (Number.isNaN(timestamp)) throw malformed("register timestamp is NaN");
    const json = r.string();
    const value = parseCanonical(json, "register value");
    return { timestamp, value, json };
  },
  // All concurrent writes are kept and the winner is chosen on read. Keeping
  // only the winner would be wrong inside an ORMap: a remove that observed
  // the winner but not a concurrent loser must leave the loser in place, and
  // a dropped loser could not come back. A write covers every entry its
  // replica holds, so the store holds at most one entry per concurrent writer.
  valueOf: (s) => lwwWinner(s)?.value.value,
});

export const flagKernel = dotFunKernel<null>({
  typeName: "Flag",
  code: 6,
  writeValue: () => undefined,
  readValue: () => null,
  valueOf: (s) => s.length > 0,
});

export const voteKernel = dotFunKernel<boolean>({
  typeName: "Vote",
  code: 8,
  writeValue: (w, v) => w.byte(v ? 1 : 0),
  readValue(r) {
    const b = r.byte();
    if (b > 1) throw malformed(`vote byte ${b} is neither 0 nor 1`);
    return b === 1;
  },
  valueOf: (s) => voteValue(s, undefined),
});

/** Counts each replica's latest vote. */
export function voteValue(s: DotFun<boolean>, self: string | undefined): VoteValue {
  const latest = new Map<string, Entry<boolean>>();
  for (const e of s) {
    const prev = latest.get(e.dot.replica);
    if (prev === undefined || prev.dot.counter < e.dot.counter) latest.set(e.dot.replica, e);
  }
  let votesFor = 0;
  for (const e of latest.values()) if (e.value) votesFor++;
  const selfVote = self !== undefined && latest.get(self)?.value === true;
  return { votesFor, voters: latest.size, selfVote };
}
