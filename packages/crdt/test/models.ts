/**
 * One model per CRDT type: random operations and the type's sequential
 * specification, for the property tests.
 */
import fc from "fast-check";
import { Flag, GCounter, GSet, LWWRegister, ORMap, ORSet, PNCounter, Vote } from "../src/index.js";
import { conveys } from "./harness.js";
import type { AnyReplica, Knowledge, Model } from "./harness.js";

const as = <T>(r: AnyReplica): T => r as unknown as T;

export const gCounterModel: Model<number, { total: number }> = {
  create: (id) => new GCounter(id) as unknown as AnyReplica,
  op: fc.nat({ max: 5 }),
  newSpec: () => ({ total: 0 }),
  run(r, by, spec) {
    as<GCounter>(r).increment(by);
    spec.total += by;
  },
  expected: (spec) => spec.total,
};

export const pnCounterModel: Model<number, { total: number }> = {
  create: (id) => new PNCounter(id) as unknown as AnyReplica,
  op: fc.integer({ min: -5, max: 5 }),
  newSpec: () => ({ total: 0 }),
  run(r, by, spec) {
    as<PNCounter>(r).increment(by);
    spec.total += by;
  },
  expected: (spec) => spec.total,
};

// Small element domains make collisions (same element on many replicas) likely.
const element = fc.oneof(fc.nat({ max: 4 }), fc.constantFrom({ b: 1, a: [true] }, "x"));

export const gSetModel: Model<number | string | object, { all: Set<string> }> = {
  create: (id) => new GSet(id) as unknown as AnyReplica,
  op: element,
  newSpec: () => ({ all: new Set() }),
  run(r, e, spec) {
    as<GSet>(r).add(e as never);
    spec.all.add(JSON.stringify(e));
  },
  expected(spec) {
    const out: unknown[] = [];
    spec.all.forEach((s) => out.push(JSON.parse(s)));
    return out;
  },
};

interface ORSetSpec {
  nextId: number;
  /** add op id -> element */
  readonly adds: Map<number, number>;
  /** ids of adds covered by a later add or remove that observed them */
  readonly covered: Set<number>;
}

/** Records an op that observes the known adds matching `covers`: they become covered, and the op conveys them. */
function observe<E>(
  spec: { adds: Map<number, E>; covered: Set<number> },
  know: Knowledge,
  id: number,
  covers: (e: E) => boolean,
): void {
  const conveyed = new Set([id]);
  know.known.forEach((a) => {
    const e = spec.adds.get(a);
    if (e !== undefined && covers(e) && a !== id) {
      spec.covered.add(a);
      conveyed.add(a);
    }
  });
  conveys.set(id, conveyed);
  know.known.add(id);
  know.pending.add(id);
}

/**
 * Observed-remove set spec: an element is present iff some add of it is not
 * covered by a remove (or re-add) whose replica had seen that add, where
 * "seen" travels with deltas, states and anti-entropy like the data does.
 */
export const orSetModel: Model<{ add: boolean; e: number }, ORSetSpec> = {
  create: (id) => new ORSet(id) as unknown as AnyReplica,
  op: fc.record({ add: fc.boolean(), e: fc.nat({ max: 3 }) }),
  newSpec: () => ({ nextId: 0, adds: new Map(), covered: new Set() }),
  run(r, { add, e }, spec, _i, know) {
    const id = spec.nextId++;
    if (add) {
      as<ORSet<number>>(r).add(e);
      spec.adds.set(id, e);
    } else as<ORSet<number>>(r).remove(e);
    observe(spec, know, id, (x) => x === e);
  },
  expected(spec) {
    const present: number[] = [];
    spec.adds.forEach((e, id) => {
      if (!spec.covered.has(id) && !present.includes(e)) present.push(e);
    });
    return present.sort((a, b) => a - b);
  },
};

interface LwwSpec {
  best: { ts: number; replica: number; seq: number; value: number } | undefined;
  seq: number[];
}

export const lwwModel: Model<{ value: number; ts: number }, LwwSpec> = {
  create: (id) => new LWWRegister<number>(id) as unknown as AnyReplica,
  // Few timestamps, so ties (broken by replica id) are common.
  op: fc.record({ value: fc.nat({ max: 100 }), ts: fc.nat({ max: 4 }) }),
  newSpec: () => ({ best: undefined, seq: [] }),
  run(r, { value, ts }, spec, i) {
    as<LWWRegister<number>>(r).set(value, { timestamp: ts });
    const seq = (spec.seq[i] = (spec.seq[i] ?? 0) + 1);
    const w = { ts, replica: i, seq, value };
    const b = spec.best;
    if (
      b === undefined ||
      w.ts > b.ts ||
      (w.ts === b.ts && (w.replica > b.replica || (w.replica === b.replica && w.seq > b.seq)))
    ) {
      spec.best = w;
    }
  },
  expected: (spec) => spec.best?.value,
};

export const flagModel: Model<boolean, { enabled: boolean }> = {
  create: (id) => new Flag(id) as unknown as AnyReplica,
  // Mostly "do nothing" so that some runs end with the flag still off.
  op: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))),
  newSpec: () => ({ enabled: false }),
  run(r, enable, spec) {
    if (enable) {
      as<Flag>(r).enable();
      spec.enabled = true;
    }
  },
  expected: (spec) => spec.enabled,
};

export const voteModel: Model<boolean, { votes: Map<number, boolean> }> = {
  create: (id) => new Vote(id) as unknown as AnyReplica,
  op: fc.boolean(),
  newSpec: () => ({ votes: new Map() }),
  run(r, v, spec, i) {
    as<Vote>(r).vote(v);
    spec.votes.set(i, v);
  },
  expected(spec, i) {
    let votesFor = 0;
    spec.votes.forEach((v) => (votesFor += v ? 1 : 0));
    return { votesFor, voters: spec.votes.size, selfVote: spec.votes.get(i) === true };
  },
};

type MapOp =
  | { kind: "count"; key: string; by: number }
  | { kind: "tag"; add: boolean; e: number }
  | { kind: "name"; value: number; ts: number }
  | { kind: "flag" }
  | { kind: "misc"; which: number; n: number }
  | { kind: "remove"; key: string };

/**
 * ORMap with one value type per key (PN-counters under "c1"/"c2", an ORSet
 * under "tags", a register under "name", a nested map of flags under
 * "nested", a GCounter "g", a Vote "v", a GSet "s"), and key removals. No
 * sequential spec: convergence, laws and round trips only.
 */
export const orMapModel: Model<MapOp, null> = {
  create: (id) => new ORMap(id) as unknown as AnyReplica,
  op: fc.oneof(
    fc.record({
      kind: fc.constant("count" as const),
      key: fc.constantFrom("c1", "c2"),
      by: fc.integer({ min: -3, max: 3 }),
    }),
    fc.record({ kind: fc.constant("tag" as const), add: fc.boolean(), e: fc.nat({ max: 2 }) }),
    fc.record({
      kind: fc.constant("name" as const),
      value: fc.nat({ max: 9 }),
      ts: fc.nat({ max: 3 }),
    }),
    fc.record({ kind: fc.constant("flag" as const) }),
    fc.record({
      kind: fc.constant("misc" as const),
      which: fc.nat({ max: 2 }),
      n: fc.nat({ max: 3 }),
    }),
    fc.record({
      kind: fc.constant("remove" as const),
      key: fc.constantFrom("c1", "c2", "tags", "name", "nested", "g", "v", "s"),
    }),
  ),
  newSpec: () => null,
  run(r, op) {
    const m = as<ORMap>(r);
    switch (op.kind) {
      case "count":
        m.update(op.key, PNCounter, (c) => c.increment(op.by));
        break;
      case "tag":
        m.update("tags", ORSet<number>, (s) => (op.add ? s.add(op.e) : s.remove(op.e)));
        break;
      case "name":
        m.update(
          "name",
          LWWRegister<number>,
          (reg) => void reg.set(op.value, { timestamp: op.ts }),
        );
        break;
      case "flag":
        m.update("nested", ORMap, (inner) => inner.update("done", Flag, (f) => f.enable()));
        break;
      case "misc":
        if (op.which === 0) m.update("g", GCounter, (c) => c.increment(op.n));
        else if (op.which === 1) m.update("v", Vote, (v) => v.vote(op.n % 2 === 0));
        else m.update("s", GSet<number>, (g) => g.add(op.n));
        break;
      case "remove":
        m.remove(op.key);
        break;
    }
  },
};

type SetMapOp = { kind: "add" | "remove"; key: string; e: number } | { kind: "drop"; key: string };

interface SetMapSpec {
  nextId: number;
  /** add op id -> [key, element] */
  readonly adds: Map<number, readonly [string, number]>;
  readonly covered: Set<number>;
}

/**
 * ORMap of ORSets with element and key removals, against the observed-remove
 * spec lifted to pairs: (key, element) is present iff some add of it is not
 * covered by an element remove, a re-add, or a key removal that observed it;
 * a key is present iff it has an element.
 */
export const setMapModel: Model<SetMapOp, SetMapSpec> = {
  create: (id) => new ORMap(id) as unknown as AnyReplica,
  op: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constantFrom("add" as const, "remove" as const),
        key: fc.constantFrom("p", "q"),
        e: fc.nat({ max: 2 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant("drop" as const), key: fc.constantFrom("p", "q") }),
    },
  ),
  newSpec: () => ({ nextId: 0, adds: new Map(), covered: new Set() }),
  run(r, op, spec, _i, know) {
    const m = as<ORMap>(r);
    const id = spec.nextId++;
    if (op.kind === "drop") {
      m.remove(op.key);
      observe(spec, know, id, ([k]) => k === op.key);
      return;
    }
    m.update(op.key, ORSet<number>, (s) => (op.kind === "add" ? s.add(op.e) : s.remove(op.e)));
    if (op.kind === "add") spec.adds.set(id, [op.key, op.e]);
    observe(spec, know, id, ([k, e]) => k === op.key && e === op.e);
  },
  expected(spec) {
    const present = new Map<string, number[]>();
    spec.adds.forEach(([k, e], id) => {
      if (spec.covered.has(id)) return;
      const list = present.get(k) ?? [];
      if (!list.includes(e)) list.push(e);
      present.set(k, list);
    });
    const out = new Map<string, number[]>();
    for (const k of ["p", "q"]) {
      const es = present.get(k);
      if (es !== undefined)
        out.set(
          k,
          es.sort((a, b) => a - b),
        );
    }
    return out;
  },
};

export const models = {
  GCounter: gCounterModel,
  PNCounter: pnCounterModel,
  GSet: gSetModel,
  ORSet: orSetModel,
  LWWRegister: lwwModel,
  Flag: flagModel,
  Vote: voteModel,
  ORMap: orMapModel,
  "ORMap of ORSets": setMapModel,
} as Record<string, Model<unknown, unknown>>;
