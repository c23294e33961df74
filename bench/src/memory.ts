/**
 * The `memory` scenario (issue 14, item 5): runtime memory per active
 * entity. For each count (1,000 and 100,000 by default) a fresh runtime and
 * bench function on a fresh SQLite store activate that many `Tally` counters
 * (one `GET /tallies/{id}` each, 64 in flight: each opens a channel and holds
 * its state in both processes), and the bench reads both processes' memory
 * before and after: RSS from /proc, and the live heap after a full garbage
 * collection (mem-probe.ts, preloaded with `--expose-gc`, prints
 * `process.memoryUsage()` on SIGUSR2). Per entity = growth / count.
 *
 * Warm-up first (200 activations of other counters), so JIT code, pools and
 * the first channel are not counted per entity. The runtime's
 * `cairn_active_entities` gauge checks that every counter is active at the end.
 */
import { readFileSync } from "node:fs";
import { createHttpClient } from "./clients.js";
import { preloadArgs, startFunction, startRuntime, tempDir } from "./procs.js";
import type { Proc } from "./procs.js";

/** One process's memory, bytes. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** One count's measurement. */
export interface MemoryResult {
  entities: number;
  /** What the runtime's gauge said at the end. */
  active: number;
  activationsPerSecond: number;
  runtime: { before: MemorySample; after: MemorySample };
  function: { before: MemorySample; after: MemorySample };
}

/** The ids must not collide with the warm-up's. */
const WARMUP = 200;

/** Memory of a process that preloaded mem-probe: signal it, read its JSON line. */
async function sample(proc: Proc): Promise<MemorySample> {
  const answer = proc.waitForLine((l) => l.includes('"msg":"bench memory"'), 30_000, true);
  proc.child.kill("SIGUSR2");
  const j = JSON.parse(await answer) as MemorySample & { gc: boolean };
  if (!j.gc)
    throw new Error(`${proc.name} was started without --expose-gc: its heap includes garbage`);
  // /proc after the collection: the same moment as the heap figures.
  return { ...j, rss: rssOf(proc.child.pid) ?? j.rss };
}

function rssOf(pid: number | undefined): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Sum of every series of a gauge in a Prometheus text page. */
function gauge(metrics: string, name: string): number {
  let sum = 0;
  for (const m of metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm")))
    sum += Number(m[1]);
  return sum;
}

/** Activates `count` counters behind a fresh runtime and function; measures both. */
export async function measureMemory(count: number, concurrency = 64): Promise<MemoryResult> {
  const tmp = tempDir();
  const probe = ["--expose-gc", ...preloadArgs("mem-probe")];
  const fn = await startFunction("bench", "function", probe);
  let rt;
  try {
    rt = await startRuntime(fn.port, `${tmp.dir}/cairn.db`, { nodeArgs: probe });
  } catch (err) {
    await fn.proc.stop();
    tmp.cleanup();
    throw err;
  }
  const client = createHttpClient("127.0.0.1", rt.port, concurrency);
  const get = async (id: string): Promise<void> => {
    const res = await client.request("GET", `/tallies/${id}`);
    if (res.status !== 200)
      throw new Error(`GET /tallies/${id} answered ${res.status}: ${res.body}`);
  };
  try {
    for (let i = 0; i < WARMUP; i++) await get(`warm-${i}`);
    const before = { runtime: await sample(rt.proc), function: await sample(fn.proc) };
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) await get(`m-${next++}`);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = { runtime: await sample(rt.proc), function: await sample(fn.proc) };
    const metrics = await (await fetch(`http://127.0.0.1:${rt.adminPort}/metrics`)).text();
    return {
      entities: count,
      active: gauge(metrics, "cairn_active_entities"),
      activationsPerSecond: count / seconds,
      runtime: { before: before.runtime, after: after.runtime },
      function: { before: before.function, after: after.function },
    };
  } finally {
    client.close();
    await rt.proc.stop();
    await fn.proc.stop();
    tmp.cleanup();
  }
}

const MiB = 1024 * 1024;

function growth(b: MemorySample, a: MemorySample, n: number, key: keyof MemorySample): string {
  const d = a[key] - b[key];
  return `${(b[key] / MiB).toFixed(0)} → ${(a[key] / MiB).toFixed(0)} MiB (${(d / n / 1024).toFixed(2)} KiB/entity)`;
}

/** The Markdown table of the memory scenario; the issue's target is at most 1 KB per entity in the runtime. */
export function memoryTable(results: readonly MemoryResult[]): string {
  const lines = [
    "| active counters | gauge | activations/s | runtime RSS | runtime heap used | function RSS | function heap used | runtime ≤ 1 KB/entity |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const n = r.entities;
    const perEntity = (r.runtime.after.rss - r.runtime.before.rss) / n;
    lines.push(
      `| ${n.toLocaleString("en-US")} | ${r.active.toLocaleString("en-US")} | ${Math.round(r.activationsPerSecond).toLocaleString("en-US")} | ` +
        `${growth(r.runtime.before, r.runtime.after, n, "rss")} | ${growth(r.runtime.before, r.runtime.after, n, "heapUsed")} | ` +
        `${growth(r.function.before, r.function.after, n, "rss")} | ${growth(r.function.before, r.function.after, n, "heapUsed")} | ` +
        `${n < 10_000 ? "— (too few to tell)" : perEntity <= 1000 ? "yes" : `**no** (${(perEntity / 1000).toFixed(1)} KB)`} |`,
    );
  }
  return lines.join("\n");
}
