/**
 * CRDT micro-benchmarks for @cairn/crdt: local updates, delta application
 * and full-state merges per second for each type, delta and state sizes for
 * typical workloads, and the bounded-memory run (encoded ORSet state after
 * 1,000,000 add/remove pairs over 1,000 elements).
 *
 * Run: npx tsc -b packages/crdt && npx tsx bench/src/crdt.ts
 * (single-threaded; on a shared machine, numbers move with the neighbours' load)
 */
import { cpus } from "node:os";
import { Flag, GCounter, GSet, LWWRegister, ORMap, ORSet, PNCounter, Vote } from "@cairn/crdt";

/** A deterministic PRNG, so every run does the same work. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `fn(i)` for i in [0, n) and returns operations per second. */
function rate(n: number, fn: (i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - start);
  return (n * 1e9) / ns;
}

interface Row {
  type: string;
  workload: string;
  local: number;
  apply: number;
  merge: number;
  delta: number;
  state: number;
}

interface Replica {
  takeDelta(): Uint8Array | undefined;
  applyDelta(d: Uint8Array): void;
  merge(s: Uint8Array): void;
  encodeState(): Uint8Array;
}

/**
 * Measures one type: `make` creates a replica, `prepare` brings it to the
 * workload's starting state, `op(r, i)` is one local update.
 */
function measure<R extends Replica>(
  type: string,
  workload: string,
  make: (id: string) => R,
  prepare: (r: R) => void,
  op: (r: R, i: number) => void,
  n: number,
): Row {
  // Local updates, taking the delta after each one as a replica would before replying.
  const writer = make("w");
  prepare(writer);
  const seed = writer.encodeState();
  writer.takeDelta();
  const deltas: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    op(writer, i); // warm-up, and the deltas to apply below
    deltas.push(writer.takeDelta() ?? new Uint8Array());
  }
  const local = rate(n, (i) => {
    op(writer, i + 1000);
    writer.takeDelta();
  });
  const delta = deltas.reduce((s, d) => s + d.length, 0) / deltas.length;

  // Delta application: a replica that starts where the writer started.
  const reader = make("r");
  reader.merge(seed);
  const usable = deltas.filter((d) => d.length > 0);
  const apply =
    usable.length === 0
      ? 0
      : rate(Math.max(n, usable.length), (i) => reader.applyDelta(usable[i % usable.length]!));

  // Full-state merges of the writer's current state into a replica one update behind.
  const state = writer.encodeState();
  const other = make("o");
  other.merge(seed);
  const merges = Math.max(20, Math.min(n, Math.floor(2e7 / (state.length * 50 + 1))));
  const merge = rate(merges, () => other.merge(state));
  return { type, workload, local, apply, merge, delta, state: state.length };
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n < 10 ? 1 : 0);
}

function typeRows(): Row[] {
  const r = rng(1);
  const rows: Row[] = [];
  rows.push(
    measure(
      "GCounter",
      "3 replicas, +1",
      (id) => new GCounter(id),
      (c) => {
        for (const id of ["a", "b", "c"]) {
          const other = new GCounter(id);
          other.increment(10);
          c.merge(other.encodeState());
        }
      },
      (c) => c.increment(),
      200_000,
    ),
  );
  rows.push(
    measure(
      "PNCounter",
      "3 replicas, ±1",
      (id) => new PNCounter(id),
      (c) => {
        for (const id of ["a", "b", "c"]) {
          const other = new PNCounter(id);
          other.increment(10);
          c.merge(other.encodeState());
        }
      },
      (c, i) => c.increment(i % 3 === 0 ? -1 : 1),
      200_000,
    ),
  );
  rows.push(
    measure(
      "GSet",
      "10k→31k strings, add new",
      (id) => new GSet<string>(id),
      (s) => {
        for (let i = 0; i < 10_000; i++) s.add(`item-${i}`);
      },
      (s, i) => s.add(`new-${i}`),
      20_000,
    ),
  );
  // Churn keeps the set at 10,000: remove a random live element, add a fresh one.
  const live: string[] = [];
  let fresh = 0;
  rows.push(
    measure(
      "ORSet",
      "10k strings, remove+add (2 updates)",
      (id) => new ORSet<string>(id),
      (s) => {
        live.length = 0;
        for (let i = 0; i < 10_000; i++) {
          s.add(`item-${i}`);
          live.push(`item-${i}`);
        }
        fresh = 10_000;
      },
      (s) => {
        const j = Math.floor(r() * live.length);
        s.remove(live[j]!);
        live[j] = `item-${fresh++}`;
        s.add(live[j]);
      },
      50_000,
    ),
  );
  rows.push(
    measure(
      "LWWRegister",
      "string value",
      (id) => new LWWRegister<string>(id),
      (x) => void x.set("start"),
      (x, i) => void x.set(`value-${i}`),
      200_000,
    ),
  );
  rows.push(flagRow());
  rows.push(
    measure(
      "Vote",
      "5 voters, flip own vote",
      (id) => new Vote(id),
      (v) => {
        for (const id of ["a", "b", "c", "d"]) {
          const other = new Vote(id);
          other.vote(true);
          v.merge(other.encodeState());
        }
      },
      (v, i) => v.vote(i % 2 === 0),
      200_000,
    ),
  );
  rows.push(
    measure(
      "ORMap",
      "1,000 PNCounters, +1 one key",
      (id) => new ORMap<string>(id),
      (m) => {
        for (let i = 0; i < 1000; i++) m.update(`k${i}`, PNCounter, (c) => c.increment());
      },
      (m) => m.update(`k${Math.floor(r() * 1000)}`, PNCounter, (c) => c.increment()),
      100_000,
    ),
  );
  return rows;
}

/** A flag has one meaningful update, so each operation uses a fresh flag. */
function flagRow(): Row {
  const n = 100_000;
  const local = rate(n, () => {
    const f = new Flag("w");
    f.enable();
    f.takeDelta();
  });
  const source = new Flag("w");
  source.enable();
  const delta = source.takeDelta()!;
  const state = source.encodeState();
  const apply = rate(n, () => new Flag("r").applyDelta(delta));
  const merge = rate(n, () => new Flag("r").merge(state));
  return {
    type: "Flag",
    workload: "enable (fresh flag per op)",
    local,
    apply,
    merge,
    delta: delta.length,
    state: state.length,
  };
}

/** Delta sizes when several updates are batched into one delta (one reply with many changes). */
function batchedDeltas(): string[] {
  const lines: string[] = [];
  const r = rng(2);
  const set = new ORSet<string>("w");
  for (let i = 0; i < 10_000; i++) set.add(`item-${i}`);
  set.takeDelta();
  let next = 10_000;
  for (let i = 0; i < 100; i++) {
    set.remove(`item-${Math.floor(r() * 10_000)}`);
    set.add(`item-${next++}`);
  }
  const churn = set.takeDelta()!.length;
  lines.push(
    `ORSet 10,000 strings, 1% churn (100 removes + 100 adds) in one delta: ${churn} B; full state ${set.encodeState().length} B`,
  );
  const map = new ORMap<string>("w");
  for (let i = 0; i < 1000; i++) map.update(`k${i}`, PNCounter, (c) => c.increment());
  map.takeDelta();
  for (let i = 0; i < 100; i++)
    map.update(`k${Math.floor(r() * 1000)}`, PNCounter, (c) => c.increment());
  lines.push(
    `ORMap of 1,000 PNCounters, 100 increments in one delta: ${map.takeDelta()!.length} B; full state ${map.encodeState().length} B`,
  );
  return lines;
}

/**
 * 1,000,000 add/remove pairs over 1,000 elements on replica A, with deltas
 * shipped to replica B every 100 pairs. Every 7th delta is dropped; B runs
 * anti-entropy with A every 10,000 pairs, which repairs the loss and lets B's
 * context fuse back into one range. The state stays proportional to the live
 * elements, not to the history.
 */
function boundedMemory(): string[] {
  const r = rng(3);
  const a = new ORSet<number>("a");
  const b = new ORSet<number>("b");
  const lines: string[] = [];
  let sent = 0;
  let maxRangesB = 0;
  const start = process.hrtime.bigint();
  for (let i = 1; i <= 1_000_000; i++) {
    a.add(Math.floor(r() * 1000));
    a.remove(Math.floor(r() * 1000));
    if (i % 100 === 0) {
      const d = a.takeDelta();
      if (d !== undefined && ++sent % 7 !== 0) b.applyDelta(d);
      maxRangesB = Math.max(maxRangesB, b.contextRanges);
    }
    if (i % 10_000 === 0) {
      const missing = a.missingFor(b.encodeContext());
      if (missing !== undefined) b.merge(missing);
    }
    if (i === 1_000 || i === 10_000 || i === 100_000 || i === 1_000_000) {
      const bytes = a.encodeState().length;
      lines.push(
        `after ${i.toLocaleString("en-US").padStart(9)} pairs: live ${String(a.size).padStart(4)}, state ${String(bytes).padStart(6)} B ` +
          `(${(bytes / Math.max(1, a.size)).toFixed(1)} B/live element), context ranges A ${a.contextRanges}, B ${b.contextRanges}`,
      );
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const missing = a.missingFor(b.encodeContext());
  if (missing !== undefined) b.merge(missing);
  lines.push(
    `replica B after a last anti-entropy (${missing?.length ?? 0} B): equal to A: ${b.equals(a)}, state ${b.encodeState().length} B, ` +
      `context ranges ${b.contextRanges} (at most ${maxRangesB} between anti-entropy rounds)`,
  );
  // The same live elements added once, without any history, for comparison.
  const fresh = new ORSet<number>("a");
  for (const x of a.value) fresh.add(x);
  lines.push(
    `same live elements without history: ${fresh.encodeState().length} B; run took ${seconds.toFixed(1)} s (${fmt(2e6 / seconds)} updates/s)`,
  );
  return lines;
}

function main(): void {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `@cairn/crdt benchmark — ${cpu} (${cpus().length} cores), Node ${process.version}, ${new Date().toISOString()}`,
  );
  console.log(
    "local = updates/s incl. takeDelta; apply = applyDelta/s of single-update deltas (decode included);",
  );
  console.log(
    "merge = full-state merges/s of encoded state (decode included); delta = mean bytes per single-update delta\n",
  );
  const rows = typeRows();
  const header = ["type", "workload", "local/s", "apply/s", "merge/s", "delta B", "state B"];
  const cells = rows.map((r) => [
    r.type,
    r.workload,
    fmt(r.local),
    fmt(r.apply),
    fmt(r.merge),
    r.delta.toFixed(1),
    String(r.state),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const c of cells) console.log(line(c));
  console.log("\nBatched deltas:");
  for (const l of batchedDeltas()) console.log(`  ${l}`);
  console.log("\nBounded memory: ORSet, 1,000,000 add/remove pairs over 1,000 elements");
  for (const l of boundedMemory()) console.log(`  ${l}`);
}

main();
