/**
 * Memory per active entity: activates N carts (one GetCart each, so each
 * opens a channel and holds its state) and reads the resident memory of the
 * runtime and the user function before and after. Measures decision 0003
 * (channels multiplexed over one stream) at 1,000 and 100,000 entities.
 *
 *   npx tsx bench/src/active-entities.ts [counts=1000,100000]
 */
import { readFileSync } from "node:fs";
import { createHttpClient } from "./clients.js";
import { startFunction, startRuntime, tempDir } from "./procs.js";

function rssMiB(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function activate(count: number): Promise<void> {
  process.env.CAIRN_PASSIVATION_TIMEOUT_MS = String(3_600_000);
  const tmp = tempDir();
  const fn = await startFunction();
  const rt = await startRuntime(fn.port, `${tmp.dir}/cairn.db`);
  const client = createHttpClient("127.0.0.1", rt.port, 64);
  try {
    // Warm up both processes so JIT and pools are not counted per entity.
    for (let i = 0; i < 200; i++) await client.request("GET", `/carts/warm-${i}`);
    global.gc?.();
    const before = { runtime: rssMiB(rt.proc.child.pid), fn: rssMiB(fn.proc.child.pid) };
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < count) {
          const res = await client.request("GET", `/carts/e-${next++}`);
          if (res.status !== 200) throw new Error(`GetCart answered ${res.status}: ${res.body}`);
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const metrics = await (await fetch(`http://127.0.0.1:${rt.adminPort}/metrics`)).text();
    const active = Number(/cairn_active_entities\{[^}]*\} (\d+)/.exec(metrics)?.[1] ?? NaN);
    const after = { runtime: rssMiB(rt.proc.child.pid), fn: rssMiB(fn.proc.child.pid) };
    const per = (a: number, b: number) => (((a - b) * 1024 * 1024) / count / 1024).toFixed(2);
    console.log(
      `| ${count.toLocaleString("en-US")} | ${active.toLocaleString("en-US")} | ${(count / seconds).toFixed(0)}/s | ` +
        `${before.runtime.toFixed(0)} → ${after.runtime.toFixed(0)} MiB (${per(after.runtime, before.runtime)} KiB/entity) | ` +
        `${before.fn.toFixed(0)} → ${after.fn.toFixed(0)} MiB (${per(after.fn, before.fn)} KiB/entity) |`,
    );
  } finally {
    client.close();
    await rt.proc.stop();
    await fn.proc.stop();
    tmp.cleanup();
  }
}

const counts = (process.argv[2] ?? "1000,100000").split(",").map(Number);
console.log(`active entities, ${new Date().toISOString()}, node ${process.version}`);
console.log("| entities | active (gauge) | activation rate | runtime RSS | function RSS |");
console.log("|---|---|---|---|---|");
for (const c of counts) await activate(c);
