/**
 * `npm run fuzz`: the ingress fuzzer (issue 7). Starts two real runtime
 * nodes (the CLI binary, SQLite) with the shopping-cart and user-session
 * samples as their user functions on loopback, writes reference entities,
 * then sends seeded malformed and abusive traffic on every protocol of the
 * port for `--duration` seconds, and finally checks that the reference
 * entities read back unchanged and both nodes still serve.
 *
 *   npm run fuzz -- [--seed N] [--duration S] [--concurrency N] [--json]
 *
 * Exits 1 on any crash, hang, INTERNAL without a correlation id, or changed
 * entity, printing the seed and each problem's case number to replay it.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { CASES } from "./cases.js";
import type { Targets } from "./cases.js";
import { judge } from "./judge.js";
import { Rng } from "./rng.js";
import { http1 } from "./wire.js";
import { startFunction, startRuntime, tempDir } from "../procs.js";
import type { RuntimeProc } from "../procs.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    duration: { type: "string", default: "30" },
    concurrency: { type: "string", default: "8" },
    json: { type: "boolean", default: false },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const durationS = Number(values.duration);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(seed) || !(durationS > 0) || !(concurrency >= 1)) {
  process.stderr.write(
    "usage: npm run fuzz -- [--seed <int>] [--duration <seconds>] [--concurrency <n>] [--json]\n",
  );
  process.exit(2);
}

const LIMITS = {
  maxRequestBytes: 65_536,
  maxEntityIdBytes: 1024,
  headersTimeoutMs: 1500,
  requestTimeoutMs: 2000,
  idleTimeoutMs: 3000,
};
const REFERENCES = 8;

function say(line: string): void {
  process.stderr.write(`fuzz: ${line}\n`);
}

async function startNode(
  sample: "shopping-cart" | "user-session",
  dir: string,
): Promise<RuntimeProc & { fn: Awaited<ReturnType<typeof startFunction>> }> {
  const fn = await startFunction(sample, `${sample}-function`);
  const env: Record<string, string> = {
    CAIRN_MAX_REQUEST_BYTES: String(LIMITS.maxRequestBytes),
    CAIRN_MAX_ENTITY_ID_BYTES: String(LIMITS.maxEntityIdBytes),
    CAIRN_HEADERS_TIMEOUT_MS: String(LIMITS.headersTimeoutMs),
    CAIRN_REQUEST_TIMEOUT_MS: String(LIMITS.requestTimeoutMs),
    CAIRN_IDLE_TIMEOUT_MS: String(LIMITS.idleTimeoutMs),
    CAIRN_COMMAND_TIMEOUT_MS: "5000",
  };
  const rt = await startRuntime(fn.port, join(dir, `${sample}.db`), {
    name: `${sample}-runtime`,
    env,
  });
  return { ...rt, fn };
}

/** Reads the reference entities as JSON text, for comparison at the end. */
async function readReferences(t: Targets): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < REFERENCES; i++) {
    for (const [port, path] of [
      [t.cart, `/carts/ref-${i}`],
      [t.session, `/sessions/ref-s${i}`],
    ] as const) {
      const a = await http1(port, { method: "GET", path, headers: {} }, 10_000);
      out.set(`${port}${path}`, a.kind === "http" ? `${a.status} ${a.body.toString()}` : a.kind);
    }
  }
  return out;
}

async function writeReferences(t: Targets): Promise<void> {
  const post = async (port: number, path: string, body: unknown): Promise<void> => {
    const a = await http1(
      port,
      {
        method: "POST",
        path,
        headers: { "content-type": "application/json" },
        body: Buffer.from(JSON.stringify(body)),
      },
      10_000,
    );
    if (a.kind !== "http" || a.status !== 200)
      throw new Error(`writing reference ${path} failed: ${JSON.stringify(a)}`);
  };
  for (let i = 0; i < REFERENCES; i++) {
    for (let j = 0; j <= i % 3; j++)
      await post(t.cart, `/carts/ref-${i}/items`, {
        productId: `p${j}`,
        name: `thing ${j}`,
        quantity: j + 1,
      });
    await post(t.session, `/sessions/ref-s${i}/login`, { userId: `u${i}`, ttlSeconds: 86_400 });
  }
}

async function metricSum(adminPort: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  const text = await res.text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name))
    .reduce((s, l) => s + Number(l.split(" ").pop()), 0);
}

async function main(): Promise<number> {
  say(
    `seed ${seed}, ${durationS} s, concurrency ${concurrency} (replay: npm run fuzz -- --seed ${seed} --duration ${durationS})`,
  );
  const { dir, cleanup } = tempDir();
  const [cart, session] = await Promise.all([
    startNode("shopping-cart", dir),
    startNode("user-session", dir),
  ]);
  const nodes = [cart, session];
  const t: Targets = { cart: cart.port, session: session.port, ...LIMITS };
  await writeReferences(t);
  const before = await readReferences(t);

  const master = new Rng(seed);
  const counts = new Map<string, number>();
  const count = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
  const problems: string[] = [];
  let requests = 0;
  let streaming = 0;
  let crashed = false;
  const end = Date.now() + durationS * 1000;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end && !crashed) {
      const index = next++;
      const rng = master.fork();
      const [, name, run] = rng.weighted(CASES.map((c) => [c[0], c] as const));
      let verdict;
      try {
        const result = await run(rng, t);
        verdict = judge(result);
        if (result.streaming) streaming++;
      } catch (err) {
        verdict = {
          label: "harness error",
          problem: `the harness failed: ${err instanceof Error ? err.stack : String(err)}`,
        };
      }
      requests++;
      count(`${name}  ${verdict.label}`);
      if (verdict.problem !== undefined)
        problems.push(`case ${index} (${name}): ${verdict.problem}`);
      for (const n of nodes)
        for (const p of [n.proc, n.fn.proc])
          if (!p.running && !crashed) {
            crashed = true;
            problems.push(
              `${p.name} exited during case ${index} (${name}); last output:\n${p.lines.slice(-15).join("\n")}`,
            );
          }
    }
  };
  const progress = setInterval(
    () => say(`${requests} requests, ${problems.length} problems`),
    10_000,
  );
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(progress);

  const crashes = nodes
    .flatMap((n) => [n.proc, n.fn.proc])
    .filter((p) => !p.running)
    .map((p) => p.name);
  let changed: string[] = [];
  const stats = { restarts: 0, ingressTimeouts: 0 };
  if (crashes.length === 0) {
    const after = await readReferences(t);
    changed = [...before]
      .filter(([k, v]) => after.get(k) !== v)
      .map(([k, v]) => `${k}: was ${v}, now ${after.get(k)}`);
    for (const n of nodes) {
      stats.restarts += await metricSum(n.adminPort, "cairn_entity_restarts_total");
      stats.ingressTimeouts += await metricSum(n.adminPort, "cairn_ingress_timeouts_total");
    }
  }
  for (const c of changed) problems.push(`reference entity changed: ${c}`);
  for (const n of nodes) {
    await n.proc.stop();
    await n.fn.proc.stop();
  }
  cleanup();
  const hangs = [...counts].filter(([k]) => k.endsWith(" hang")).reduce((s, [, v]) => s + v, 0);
  const summary = {
    seed,
    durationS,
    concurrency,
    requests,
    streaming,
    crashes,
    hangs,
    ...stats,
    changedEntities: changed.length,
    problems: problems.length,
  };
  const rows = [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `  ${String(v).padStart(7)}  ${k}`);
  process.stdout.write(`${rows.join("\n")}\n`);
  process.stdout.write(
    `${values.json ? JSON.stringify({ ...summary, counts: Object.fromEntries(counts) }) : JSON.stringify(summary)}\n`,
  );
  for (const p of problems.slice(0, 30)) say(`PROBLEM ${p}`);
  if (problems.length > 30) say(`... and ${problems.length - 30} more problems`);
  say(
    problems.length === 0
      ? `clean: ${requests} requests (${streaming} streaming), seed ${seed}`
      : `FAILED with ${problems.length} problems; replay with --seed ${seed}`,
  );
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`could not run: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
