/**
 * `npm run bench`: the shopping-cart sample through a real runtime, side by
 * side with bare gRPC and HTTP echo servers on the same machine, in one run.
 *
 * Order: setup, baselines (each in its own server process), then one user
 * function and one runtime on a fresh store for every cart scenario, with
 * cold-activation last because it restarts the runtime. Every process is
 * stopped at the end, whatever happens (see procs.ts).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as os from "node:os";
import { join } from "node:path";
import { coldActivation } from "./cold.js";
import { HELP, parseOptions } from "./options.js";
import type { BenchOptions, ScenarioName } from "./options.js";
import { CpuProbe } from "./cpu.js";
import { liveProcesses, ROOT, startFunction, startRuntime, tempDir } from "./procs.js";
import type { Proc, RuntimeProc } from "./procs.js";
import { notes, table } from "./report.js";
import type { ScenarioResult } from "./report.js";
import { grpcCarts, grpcEcho, httpCarts, httpEcho } from "./scenarios.js";
import type { HttpGenerator, LoadShape } from "./scenarios.js";
import { findWrk } from "./wrk.js";

const BASELINES: readonly ScenarioName[] = ["grpc-echo", "http-echo"];

/** The machine and the run's parameters, printed above the numbers. */
interface Setup {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  commit: string;
  store: string;
  durability: string;
  durationS: number;
  warmupS: number;
  concurrency: number;
  carts: number;
  grpcChannels: number;
  loadavgAtStart: number[];
  httpClient: string;
  loadGenerator: string;
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

function gitCommit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: ROOT,
      encoding: "utf8",
    }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: ROOT,
      encoding: "utf8",
    }).trim();
    return dirty === "" ? head : `${head} (+ uncommitted changes)`;
  } catch {
    return "unknown";
  }
}

function durabilityOf(store: BenchOptions["store"]): string {
  switch (store) {
    case "sqlite":
      return "SQLite WAL, synchronous=FULL: each reply waits for an fsync'd commit (group-committed)";
    case "postgres":
      return "PostgreSQL commit (synchronous_commit as the server is configured)";
    case "memory":
      return "none: memory store, nothing survives a restart";
  }
}

/** Picks the HTTP load generator; `wrk` when asked for or found, the bench's own client otherwise. */
function httpGenerator(
  o: BenchOptions,
  dir: string,
): { value: HttpGenerator; text: string } | { error: string } {
  const wrk = o.httpClient === "node" ? undefined : findWrk();
  if (wrk === undefined) {
    if (o.httpClient === "wrk")
      return {
        error:
          "--http-client wrk: wrk is not on PATH (apt-get install wrk), or use --http-client node",
      };
    const why = o.httpClient === "node" ? "as asked" : "wrk not found on PATH";
    return {
      value: { kind: "node" },
      text: `node:http keep-alive agent in the bench process (${why})`,
    };
  }
  const version =
    spawnSync(wrk, ["-v"], { encoding: "utf8" }).stdout.split("\n")[0]?.split(" [")[0] ?? "wrk";
  return {
    value: { kind: "wrk", wrk, dir },
    text: `${version} (${wrk}), 1 thread, its own process`,
  };
}

function describeSetup(o: BenchOptions, httpClient: string): Setup {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    commit: gitCommit(),
    store: o.store,
    durability: durabilityOf(o.store),
    durationS: o.durationS,
    warmupS: o.warmupS,
    concurrency: o.concurrency,
    carts: o.carts,
    grpcChannels: o.grpcChannels,
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    httpClient,
    loadGenerator:
      "closed loop (N connections or calls, one request in flight on each); gRPC: grpc-js in the bench process; " +
      `client, runtime, user function (and baseline servers) all share these ${cpus.length} cores`,
  };
}

function printSetup(s: Setup, print: (line: string) => void): void {
  print("Cairn bench: shopping cart through the runtime, beside bare transport baselines");
  print(`  date         ${s.date}`);
  print(
    `  machine      ${s.cpu}, ${s.cores} cores, ${s.memoryGiB} GiB; load avg ${s.loadavgAtStart.join(" ")}`,
  );
  print(`  node         ${s.node}; commit ${s.commit}`);
  print(`  store        ${s.store}; durability: ${s.durability}`);
  print(
    `  load         ${s.concurrency} in flight (serial: 1), ${s.carts} carts, ${s.warmupS} s warm-up + ${s.durationS} s measured per scenario`,
  );
  print(`  HTTP client  ${s.httpClient}`);
  print(`  generator    ${s.loadGenerator}`);
}

async function stopAll(procs: Array<Proc | undefined>): Promise<void> {
  for (const p of procs) await p?.stop().catch(() => undefined);
}

/** Runs one scenario, turning any exception into a failed row instead of ending the run. */
async function measure(
  name: ScenarioName,
  body: (probe: CpuProbe) => Promise<Omit<ScenarioResult, "name" | "loadavg">>,
): Promise<ScenarioResult> {
  const loadavg = os.loadavg()[0] ?? 0;
  log(`> ${name}`);
  // Watches whatever children run during the measured window (echo server,
  // runtime, function) plus the bench itself.
  const probe = new CpuProbe(liveProcesses);
  try {
    const r: ScenarioResult = { name, loadavg, ...(await body(probe)) };
    if (probe.usage !== undefined) r.cpu = probe.usage;
    if (r.summary) {
      const s = r.summary;
      log(
        `  ${Math.round(s.rps)}/s, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, ${s.errors} errors`,
      );
    }
    return r;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`  failed: ${message}`);
    return { name, loadavg, failed: message };
  }
}

async function runCartScenarios(
  o: BenchOptions,
  shape: LoadShape,
  wanted: ScenarioName[],
  gen: HttpGenerator,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  // A run id in every cart id keeps runs apart on a store that outlives them (PostgreSQL).
  const runId = Date.now().toString(36);
  const tmp = tempDir();
  const store =
    o.store === "sqlite"
      ? join(tmp.dir, "cairn.db")
      : o.store === "memory"
        ? "memory"
        : o.postgresUrl!;
  let fn: Proc | undefined;
  let functionPort = 0;
  let rt: RuntimeProc | undefined;
  try {
    log(
      `starting the sample's user function and a runtime (store ${o.store === "sqlite" ? store : o.store})`,
    );
    try {
      const f = await startFunction();
      fn = f.proc;
      functionPort = f.port;
      rt = await startRuntime(f.port, store);
    } catch (err) {
      const message = `system did not start: ${err instanceof Error ? err.message : String(err)}`;
      log(message);
      return wanted.map((name) => ({ name, loadavg: os.loadavg()[0] ?? 0, failed: message }));
    }
    const carts = `c-${runId}`;
    for (const name of wanted) {
      const port = rt.port;
      switch (name) {
        case "http-1000":
          results.push(
            await measure(name, async (probe) => ({
              summary: await httpCarts(port, { ...shape, probe }, o.carts, carts, gen),
            })),
          );
          break;
        case "grpc-1000":
          results.push(
            await measure(name, async (probe) => ({
              summary: await grpcCarts(port, { ...shape, probe }, o.carts, carts, o.grpcChannels),
            })),
          );
          break;
        case "http-hot":
          results.push(
            await measure(name, async (probe) => ({
              summary: await httpCarts(port, { ...shape, probe }, 0, `hot-${runId}`, gen),
            })),
          );
          break;
        case "http-serial":
          results.push(
            await measure(name, async (probe) => ({
              summary: await httpCarts(
                port,
                { ...shape, concurrency: 1, probe },
                o.carts,
                carts,
                gen,
              ),
            })),
          );
          break;
        case "cold-activation":
          if (o.store === "memory") {
            results.push({
              name,
              loadavg: os.loadavg()[0] ?? 0,
              skipped: "the memory store forgets everything on restart",
            });
            break;
          }
          results.push(
            await measure(name, async () => ({
              cold: await coldActivation(
                port,
                async () => {
                  await rt!.proc.stop();
                  rt = await startRuntime(functionPort, store);
                  return rt.port;
                },
                {
                  carts: o.coldCarts,
                  events: o.coldEvents,
                  restarts: o.coldRestarts,
                  concurrency: o.concurrency,
                  runId,
                  log,
                },
              ),
            })),
          );
          break;
        default:
          break;
      }
    }
    return results;
  } finally {
    await stopAll([rt?.proc, fn]);
    tmp.cleanup();
  }
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2), process.env);
  if ("error" in parsed) {
    log(parsed.error);
    return 2;
  }
  const o = parsed.value;
  if (o.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const print = o.json ? log : (line: string): void => void process.stdout.write(`${line}\n`);
  // Scratch space of the whole run (wrk's script); removed however the run ends.
  const scratch = tempDir();
  try {
    return await runAll(o, print, scratch.dir);
  } finally {
    scratch.cleanup();
  }
}

async function runAll(
  o: BenchOptions,
  print: (line: string) => void,
  scratch: string,
): Promise<number> {
  const gen = httpGenerator(o, scratch);
  if ("error" in gen) {
    log(gen.error);
    return 2;
  }
  const setup = describeSetup(o, gen.text);
  printSetup(setup, print);

  const shape: LoadShape = {
    concurrency: o.concurrency,
    warmupMs: o.warmupS * 1000,
    durationMs: o.durationS * 1000,
  };
  const results: ScenarioResult[] = [];
  for (const name of o.scenarios.filter((s) => BASELINES.includes(s))) {
    results.push(
      await measure(name, async (probe) => ({
        summary:
          name === "grpc-echo"
            ? await grpcEcho({ ...shape, probe }, o.grpcChannels)
            : await httpEcho({ ...shape, probe }, gen.value),
      })),
    );
  }
  const cartScenarios = o.scenarios.filter((s) => !BASELINES.includes(s));
  if (cartScenarios.length > 0)
    results.push(...(await runCartScenarios(o, shape, cartScenarios, gen.value)));

  print("");
  print(table(results));
  print("");
  print(notes(results, o.concurrency));
  print(
    "Targets are issue 2's; the peer's numbers were measured earlier on this machine and are quoted, not re-run.",
  );
  if (o.json) process.stdout.write(`${JSON.stringify({ setup, results }, null, 2)}\n`);
  // A scenario with no successful request measured nothing: fail the run so
  // scripts notice, as for a scenario that threw. A missed target does not.
  const broken = results.filter(
    (r) =>
      r.failed !== undefined ||
      (r.summary !== undefined && r.summary.ok === 0) ||
      (r.cold !== undefined && (!r.cold.complete || r.cold.samples.length === 0)),
  );
  if (broken.length > 0) log(`no usable measurement from: ${broken.map((r) => r.name).join(", ")}`);
  return broken.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
