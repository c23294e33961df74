/**
 * Durable append throughput of a store; a script, never part of `npm test`.
 *
 *   npx tsx packages/runtime/test/store/bench.ts <sqlite|sqlite-worker|postgres> <appenders> [seconds] [workUs] [background] [durableWork]
 *
 * `workUs` burns that many microseconds of main-thread CPU before each append,
 * standing in for the runtime's own work per command (ingress, protocol).
 * `background` 1 also runs 0.5 ms CPU chunks back to back on the main thread,
 * standing in for work that does not wait for commits (other requests,
 * health checks), and reports how many ran per second.
 * `durableWork` 1 makes every append also carry one outbox entry and
 * (re)schedule one timer of its entity, as a command with an effect and a
 * timer would.
 * Appender k owns entities k, k+N, k+2N... of 1,000 entities, awaits each
 * append and issues the next one, so no append ever conflicts. Prints
 * appends/s, mean batch size and the worst event-loop stall seen.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createPostgresStore } from "../../src/store/postgres.js";
import { createSqliteStore } from "../../src/store/sqlite.js";
import type { Store } from "../../src/store/types.js";
import { pgExec, pgStoreUrl } from "./drivers.js";

const [
  mode = "sqlite",
  appendersArg = "64",
  secondsArg = "5",
  workArg = "0",
  bgArg = "0",
  durableArg = "0",
] = process.argv.slice(2);
const durableWork = durableArg === "1";
const workUs = Number(workArg);
const background = bgArg === "1";
const appenders = Number(appendersArg);
const seconds = Number(secondsArg);
const ENTITIES = 1000;
const payload = { typeUrl: "json.cairn.dev/Bench", value: new Uint8Array(100).fill(7) };
const call = { service: "bench.Effects", method: "Do", payload, metadata: {} };

/** The outbox entry and timer an append carries with `durableWork`. */
function workOf(entityId: string) {
  if (!durableWork) return {};
  const owner = `bench/${entityId}`;
  return {
    outbox: [call],
    timers: [{ kind: "schedule" as const, owner, name: "t", dueAt: Date.now() + 60_000, call }],
  };
}

let commits = 0;
let batched = 0;
let commitSeconds = 0;
const metrics = {
  storeCommit(_s: string, size: number, seconds: number): void {
    commits++;
    batched += size;
    commitSeconds += seconds;
  },
};

async function open(): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  if (mode === "postgres") {
    const schema = `bench_${process.pid}`;
    const store = await createPostgresStore(pgStoreUrl(schema), { metrics });
    const cleanup = async () => {
      await pgExec(`DROP SCHEMA ${schema} CASCADE`);
    };
    return { store, cleanup };
  }
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-"));
  const writer = mode === "sqlite-worker" ? "worker" : "main";
  const store = await createSqliteStore(join(dir, "bench.db"), { metrics, writer });
  return { store, cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) };
}

async function main(): Promise<void> {
  const { store, cleanup } = await open();
  const sequences = new Map<number, number>();
  let done = 0;
  let stall = 0;
  let tick = performance.now();
  const lag = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - tick - 10);
    tick = now;
  }, 10);
  const deadline = performance.now() + seconds * 1000;
  let chunks = 0;
  const chunk = (): void => {
    if (performance.now() >= deadline) return;
    burn(500);
    chunks++;
    setImmediate(chunk);
  };
  if (background) setImmediate(chunk);
  const run = async (k: number): Promise<void> => {
    for (
      let e = k;
      performance.now() < deadline;
      e = e + appenders >= ENTITIES ? k : e + appenders
    ) {
      const entityId = `e${e}`;
      burn(workUs);
      const r = await store.append({
        entityType: "bench",
        entityId,
        expectedSequence: sequences.get(e) ?? 0,
        events: [payload],
        ...workOf(entityId),
      });
      sequences.set(e, r.sequence);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: appenders }, (_, k) => run(k)));
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(lag);
  await store.close();
  await cleanup();
  console.log(
    JSON.stringify({
      mode,
      appenders,
      workUs,
      durableWork,
      ...(background && { backgroundChunksPerSecond: Math.round(chunks / elapsed) }),
      entities: ENTITIES,
      appendsPerSecond: Math.round(done / elapsed),
      meanBatch: +(batched / commits).toFixed(1),
      // With the main-thread writer this is also how long the event loop is blocked per commit.
      meanCommitMs: +((commitSeconds / commits) * 1000).toFixed(2),
      commitShareOfTime: +(commitSeconds / elapsed).toFixed(2),
      worstEventLoopStallMs: +stall.toFixed(1),
      cpus: cpus().length,
      node: process.version,
    }),
  );
}

/** Busy-waits, as CPU-bound request handling would. */
function burn(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

await main();
