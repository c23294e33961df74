/**
 * Random-delivery simulation shared by the property tests.
 *
 * Delivery model: replicas run random operations; after any operation a
 * replica may take its pending delta and put it on the "network". Delivery
 * steps pick any message ever sent (so messages arrive late and out of order)
 * and deliver it zero, one or two times (dropped or duplicated) to any
 * replica; other steps merge a full state or run anti-entropy
 * (`missingFor`) between two replicas. A delta-state CRDT does not promise to
 * converge while deltas are missing: a dropped delta is recovered by a later
 * full-state merge or anti-entropy. So the final phase makes every replica
 * receive everything, by one of three routes chosen at random: every delta
 * to every replica in a random order, full states, or anti-entropy rounds.
 */
import fc from "fast-check";
import { decodeState } from "../src/index.js";
import type { Crdt } from "../src/index.js";

// The harness treats all types alike; the per-type models cast back.
export type AnyReplica = Crdt<never, unknown>;

/** Everything the simulation needs to know about one CRDT type. */
export interface Model<Op, Spec> {
  create(replicaId: string): AnyReplica;
  op: fc.Arbitrary<Op>;
  /** Runs `op` on `replica` and records it in the spec (`index` = replica's position). */
  run(replica: AnyReplica, op: Op, spec: Spec, index: number, know: Knowledge): void;
  newSpec(): Spec;
  /** The value the sequential specification predicts for replica `index`, or undefined if none applies. */
  expected?(spec: Spec, index: number): unknown;
}

/**
 * What each replica has "seen", for specs that depend on observation (the
 * observed-remove set): op ids, carried by messages like the data is.
 */
export interface Knowledge {
  /** Ops this replica knows of. */
  readonly known: Set<number>;
  /** Ops done since the last takeDelta, with what each conveys. */
  pending: Set<number>;
}

export type Step<Op> =
  | { readonly kind: "op"; readonly replica: number; readonly op: Op; readonly take: boolean }
  | { readonly kind: "deliver"; readonly msg: number; readonly to: number; readonly times: number }
  | { readonly kind: "merge"; readonly from: number; readonly to: number }
  | { readonly kind: "anti-entropy"; readonly from: number; readonly to: number };

// Script length; CRDT_STEPS=120 explores longer histories.
const MAX_STEPS = Number(process.env["CRDT_STEPS"] ?? 40);

export function steps<Op>(op: fc.Arbitrary<Op>, maxSteps = MAX_STEPS): fc.Arbitrary<Step<Op>[]> {
  const idx = fc.nat({ max: 9 });
  return fc.array(
    fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant("op" as const),
          replica: idx,
          op,
          take: fc.boolean(),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant("deliver" as const),
          msg: fc.nat(),
          to: idx,
          times: fc.nat({ max: 2 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("merge" as const), from: idx, to: idx }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("anti-entropy" as const), from: idx, to: idx }),
      },
    ),
    { maxLength: maxSteps },
  );
}

interface Message {
  readonly bytes: Uint8Array;
  /** Op ids the message makes known to its receiver. */
  readonly knows: ReadonlySet<number>;
}

/** Per-op knowledge conveyed by a delta; set by models that track observation. */
export const conveys = new Map<number, ReadonlySet<number>>();

export interface Simulation<Spec> {
  readonly replicas: AnyReplica[];
  readonly spec: Spec;
  /** Every delta sent, in sending order. */
  readonly deltas: Uint8Array[];
}

/** Runs the steps, then the final delivery phase; returns the replicas. */
export function simulate<Op, Spec>(
  model: Model<Op, Spec>,
  n: number,
  script: readonly Step<Op>[],
  finalRoute: "deltas" | "states" | "anti-entropy" | "none",
  shuffleSeed: number,
): Simulation<Spec> {
  conveys.clear();
  const replicas = Array.from({ length: n }, (_, i) => model.create(`r${i}`));
  const know: Knowledge[] = replicas.map(() => ({ known: new Set(), pending: new Set() }));
  const spec = model.newSpec();
  const network: Message[] = [];
  const take = (i: number): void => {
    const bytes = replicas[i].takeDelta();
    const k = know[i];
    if (bytes !== undefined) {
      const knows = new Set<number>();
      k.pending.forEach((id) => (conveys.get(id) ?? new Set([id])).forEach((x) => knows.add(x)));
      network.push({ bytes, knows });
    }
    k.pending = new Set();
  };
  const receive = (i: number, knows: ReadonlySet<number>): void => {
    knows.forEach((x) => know[i].known.add(x));
  };
  const fullKnowledge = (i: number): Set<number> => new Set(know[i].known);

  for (const step of script) {
    switch (step.kind) {
      case "op": {
        const i = step.replica % n;
        model.run(replicas[i], step.op, spec, i, know[i]);
        if (step.take) take(i);
        break;
      }
      case "deliver": {
        if (network.length === 0) break;
        const msg = network[step.msg % network.length];
        for (let t = 0; t < step.times; t++) {
          replicas[step.to % n].applyDelta(msg.bytes);
          receive(step.to % n, msg.knows);
        }
        break;
      }
      case "merge": {
        const [from, to] = [step.from % n, step.to % n];
        replicas[to].merge(replicas[from].encodeState());
        receive(to, fullKnowledge(from));
        break;
      }
      case "anti-entropy": {
        const [from, to] = [step.from % n, step.to % n];
        const missing = replicas[from].missingFor(replicas[to].encodeContext());
        if (missing !== undefined) replicas[to].merge(missing);
        receive(to, fullKnowledge(from));
        break;
      }
    }
  }

  for (let i = 0; i < n; i++) take(i);
  const deltas = network.map((m) => m.bytes);
  if (finalRoute === "none") return { replicas, spec, deltas };
  const rand = mulberry32(shuffleSeed);
  if (finalRoute === "deltas") {
    const deliveries: [Message, number][] = [];
    for (const m of network) for (let i = 0; i < n; i++) deliveries.push([m, i]);
    shuffle(deliveries, rand);
    for (const [m, i] of deliveries) replicas[i].applyDelta(m.bytes);
  } else if (finalRoute === "states") {
    // Gather everything into one replica in a random order, then spread it.
    const order = replicas.map((_, i) => i);
    shuffle(order, rand);
    const hub: number = order[0] ?? 0;
    for (const i of order.slice(1)) replicas[hub].merge(replicas[i].encodeState());
    for (const i of order.slice(1)) replicas[i].merge(replicas[hub].encodeState());
  } else {
    // Anti-entropy: each replica pulls what it is missing from every other, twice round.
    for (let round = 0; round < 2; round++) {
      for (let to = 0; to < n; to++) {
        for (let from = 0; from < n; from++) {
          if (from === to) continue;
          const missing = replicas[from].missingFor(replicas[to].encodeContext());
          if (missing !== undefined) replicas[to].merge(missing);
        }
      }
    }
  }
  return { replicas, spec, deltas };
}

/** An independent copy of a replica's state, owned by `replicaId`. */
export function copy(replica: AnyReplica, replicaId = replica.replicaId): AnyReplica {
  return decodeState(replica.encodeState(), replicaId) as unknown as AnyReplica;
}

function shuffle<T>(xs: T[], rand: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
