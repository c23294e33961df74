/**
 * `npm run bench`: the shopping-cart sample and the bench's own value entity
 * and action through a real runtime, side by side with bare gRPC and HTTP echo
 * servers on the same machine, in one run.
 *
 * Order: setup, baselines (each in its own server process), then the bench
 * function and a runtime on a fresh store for the action and value entity
 * scenarios, then the sample's function and another runtime on another fresh
 * store for every cart scenario, with cold-activation last because it
 * restarts the runtime. Every process is stopped at the end, whatever happens
 * (see procs.ts).
 */
import * as os from "node:os";
import { join } from "node:path";
import { coldActivation } from "./cold.js";
import { HELP, parseOptions } from "./options.js";
import type { BenchOptions, ScenarioName } from "./options.js";
import { CpuProbe } from "./cpu.js";
import { liveProcesses, startFunction, startRuntime, tempDir } from "./procs.js";
import type { Proc, RuntimeProc } from "./procs.js";
import { measureMemory, memoryTable } from "./memory.js";
import type { MemoryResult } from "./memory.js";
import { notes, table } from "./report.js";
import type { ScenarioResult } from "./report.js";
import {
  COUNTER_ROUTE,
  ECHO_ROUTE,
  grpcCarts,
  grpcEcho,
  grpcEchoAction,
  CART_ROUTE,
  httpCarts,
  httpEcho,
  httpLoad,
} from "./scenarios.js";
import type { HttpGenerator, LoadShape } from "./scenarios.js";
import { describeSetup, httpGenerator, printSetup } from "./setup.js";
import { runVs } from "./vs.js";
import type { VsResult } from "./vs.js";
import { vsNotes, vsTable } from "./vs-report.js";

const BASELINES: readonly ScenarioName[] = ["grpc-echo", "http-echo"];
/** Served by the bench's own function (bench-function.ts), not the shopping-cart sample. */
const BENCH_FUNCTION: readonly ScenarioName[] = [
  "action-echo-grpc",
  "action-echo-http",
  "value-update",
];

const log = (s: string): void => void process.stderr.write(`${s}\n`);

/**
 * The PostgreSQL location of a run: a fresh schema `cairn_bench_<run>` unless
 * the URL names one, so a run starts from empty tables as it does on SQLite.
 * The schema is left behind for inspection (drop it with `DROP SCHEMA ... CASCADE`).
 */
function postgresLocation(url: string, runId: string): string {
  if (/[?&]schema=/.test(url)) return url;
  return `${url}${url.includes("?") ? "&" : "?"}schema=cairn_bench_${runId}`;
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

/** A fresh store for one group of scenarios: a new SQLite file, memory, or a new PostgreSQL schema. */
function freshStore(o: BenchOptions, dir: string, runId: string): string {
  return o.store === "sqlite"
    ? join(dir, "cairn.db")
    : o.store === "memory"
      ? "memory"
      : postgresLocation(o.postgresUrl!, runId);
}

/** What the progress line shows of a store: a PostgreSQL URL without its credentials. */
function storeText(o: BenchOptions, store: string): string {
  return o.store === "postgres" ? store.replace(/\/\/[^@/]*@/, "//***@") : store;
}

/**
 * The issue 3 scenarios: the bench function's echo action (gRPC, HTTP) and
 * its Counter value entity, behind their own runtime on a fresh store.
 */
async function runBenchFunctionScenarios(
  o: BenchOptions,
  shape: LoadShape,
  wanted: ScenarioName[],
  gen: HttpGenerator,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const runId = Date.now().toString(36);
  const tmp = tempDir();
  const store = freshStore(o, tmp.dir, runId);
  let fn: Proc | undefined;
  let rt: RuntimeProc | undefined;
  try {
    log(`starting the bench's user function and a runtime (store ${storeText(o, store)})`);
    try {
      const f = await startFunction("bench");
      fn = f.proc;
      rt = await startRuntime(f.port, store);
    } catch (err) {
      const message = `system did not start: ${err instanceof Error ? err.message : String(err)}`;
      log(message);
      return wanted.map((name) => ({ name, loadavg: os.loadavg()[0] ?? 0, failed: message }));
    }
    const port = rt.port;
    for (const name of wanted) {
      switch (name) {
        case "action-echo-grpc":
          results.push(
            await measure(name, async (probe) => ({
              summary: await grpcEchoAction(port, { ...shape, probe }, o.grpcChannels),
            })),
          );
          break;
        case "action-echo-http":
          results.push(
            await measure(name, async (probe) => ({
              summary: await httpLoad(port, { ...shape, probe }, ECHO_ROUTE, 0, "echo", gen),
            })),
          );
          break;
        case "value-update":
          // The warm-up activates most counters (each activation reads the
          // store once), so the measured window is mostly updates of active ones.
          results.push(
            await measure(name, async (probe) => ({
              summary: await httpLoad(
                port,
                { ...shape, probe },
                COUNTER_ROUTE,
                o.carts,
                `k-${runId}`,
                gen,
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
  const store = freshStore(o, tmp.dir, runId);
  let fn: Proc | undefined;
  let functionPort = 0;
  let rt: RuntimeProc | undefined;
  try {
    log(`starting the sample's user function and a runtime (store ${storeText(o, store)})`);
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
        case "http-1000-keyed":
          results.push(
            await measure(name, async (probe) => ({
              summary: await httpLoad(
                port,
                { ...shape, probe },
                { ...CART_ROUTE, keyPrefix: `k-${runId}` },
                o.carts,
                carts,
                gen,
              ),
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
                  return { port: rt.port, adminPort: rt.adminPort };
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
  let vs: VsResult | undefined;
  if (o.vs) {
    vs = await runVs({
      sites: o.vsSites,
      workloads: o.vsWorkloads,
      postgresUrl: o.postgresUrl ?? "",
      delayUs: o.dbDelayUs,
      poolSize: o.poolSize,
      keys: o.carts,
      shape,
      gen: gen.value,
      log,
      profileDir: o.profileDir,
    });
    print("");
    print(vsTable(vs));
    print("");
    print(vsNotes(vs));
  }
  const results = o.vs && !o.scenariosGiven ? [] : await runScenarios(o, shape, gen.value, print);
  if (o.json) process.stdout.write(`${JSON.stringify({ setup, results, vs }, null, 2)}\n`);
  const vsBroken = (vs?.rows ?? [])
    .filter((r) =>
      [r.cairn, r.threeTier].some((x) => x.failed !== undefined || x.summary?.ok === 0),
    )
    .map((r) => `${r.workload} on ${r.site}`);
  vsBroken.push(...(vs?.sites ?? []).filter((x) => x.failed !== undefined).map((x) => x.site));
  // A scenario with no successful request measured nothing: fail the run so
  // scripts notice, as for a scenario that threw. A missed target does not.
  const broken = results.filter(
    (r) =>
      r.failed !== undefined ||
      (r.summary !== undefined && r.summary.ok === 0) ||
      (r.cold !== undefined && (!r.cold.complete || r.cold.samples.length === 0)),
  );
  const names = [...broken.map((r) => r.name), ...vsBroken];
  if (names.length > 0) log(`no usable measurement from: ${names.join(", ")}`);
  return names.length > 0 ? 1 : 0;
}

/** The scenarios of issues 2 and 3 (and the memory scenario): baselines, bench function, carts. */
async function runScenarios(
  o: BenchOptions,
  shape: LoadShape,
  gen: HttpGenerator,
  print: (line: string) => void,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const name of o.scenarios.filter((s) => BASELINES.includes(s))) {
    results.push(
      await measure(name, async (probe) => ({
        summary:
          name === "grpc-echo"
            ? await grpcEcho({ ...shape, probe }, o.grpcChannels)
            : await httpEcho({ ...shape, probe }, gen),
      })),
    );
  }
  const own = o.scenarios.filter((s) => BENCH_FUNCTION.includes(s));
  if (own.length > 0) results.push(...(await runBenchFunctionScenarios(o, shape, own, gen)));
  const cartScenarios = o.scenarios.filter(
    (s) => !BASELINES.includes(s) && !BENCH_FUNCTION.includes(s) && s !== "memory",
  );
  if (cartScenarios.length > 0)
    results.push(...(await runCartScenarios(o, shape, cartScenarios, gen)));
  if (o.scenarios.includes("memory"))
    results.push(
      await measure("memory", async () => {
        const memory: MemoryResult[] = [];
        for (const n of o.memoryEntities) {
          log(`  activating ${n} counters`);
          memory.push(await measureMemory(n));
        }
        return { memory };
      }),
    );

  print("");
  print(table(results));
  print("");
  print(notes(results, o.concurrency));
  const memory = results.find((r) => r.memory !== undefined)?.memory;
  if (memory !== undefined) {
    print("");
    print(memoryTable(memory));
  }
  print(
    "Targets are issue 2's (issue 3 set none); the peer's numbers were measured earlier on this machine and are quoted, not re-run.",
  );
  return results;
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
