/**
 * Command-line options of `node bench/dist/run.js`. Parsing returns
 * `{ value } | { error }` so the entry point alone decides how to exit.
 */
import { parseArgs } from "node:util";
import { VS_SITES, VS_WORKLOADS } from "./vs-names.js";
import type { VsSite, VsWorkload } from "./vs-names.js";

/** Every scenario, in the order a full run executes them. */
export const SCENARIOS = [
  "grpc-echo",
  "http-echo",
  "action-echo-grpc",
  "action-echo-http",
  "value-update",
  "http-1000",
  "http-1000-keyed",
  "grpc-1000",
  "http-hot",
  "http-serial",
  "cold-activation",
  "memory",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Names that select several scenarios. */
const ALIASES: Readonly<Record<string, readonly ScenarioName[]>> = {
  "action-echo": ["action-echo-grpc", "action-echo-http"],
};

/** Validated bench options. */
export interface BenchOptions {
  durationS: number;
  warmupS: number;
  scenarios: ScenarioName[];
  store: "sqlite" | "postgres" | "memory";
  postgresUrl: string | undefined;
  concurrency: number;
  carts: number;
  grpcChannels: number;
  httpClient: "auto" | "node" | "wrk";
  coldCarts: number;
  coldEvents: number;
  coldRestarts: number;
  /** Active counters of each memory measurement. */
  memoryEntities: number[];
  json: boolean;
  help: boolean;
  /** `--vs three-tier`: run the side-by-side set (issue 14). */
  vs: boolean;
  vsSites: VsSite[];
  vsWorkloads: VsWorkload[];
  /** Delay relay, microseconds each way, for the pg-remote site. */
  dbDelayUs: number;
  /** pg pool of the three-tier service. */
  poolSize: number;
  /** `--profile <dir>`: the side-by-side run's runtimes write V8 CPU profiles there. */
  profileDir: string | undefined;
  /** Whether --scenarios was given (with --vs, only then do the scenarios run too). */
  scenariosGiven: boolean;
}

/**
 * The PostgreSQL of the side-by-side run when neither --postgres-url,
 * CAIRN_BENCH_POSTGRES_URL nor CAIRN_TEST_POSTGRES_URL names one.
 */
export const DEFAULT_VS_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test";

export const HELP = `Cairn benchmarks: the shopping-cart sample and the bench's own value entity and action
through a real runtime, beside bare gRPC/HTTP echo baselines.

usage: npm run bench -- [options]        (builds first)
       node bench/dist/run.js [options]

options:
  --duration <s>         measured seconds per scenario (default 10; 8 with --vs alone)
  --warmup <s>           unmeasured warm-up seconds before each scenario (default 2)
  --scenarios <a,b,...>  which to run (default all): ${SCENARIOS.join(", ")}
                         (action-echo = both action-echo rows)
  --store <kind>         sqlite | postgres | memory (default sqlite, a fresh file in a temp dir)
  --postgres-url <url>   PostgreSQL URL for --store postgres (or env CAIRN_BENCH_POSTGRES_URL)
  --concurrency <n>      requests in flight for the loaded scenarios (default 64)
  --carts <n>            distinct carts of http-1000 / grpc-1000 / http-serial,
                         and counters of value-update (default 1000)
  --grpc-channels <n>    HTTP/2 connections of the gRPC client (default 1)
  --http-client <c>      auto | node | wrk: HTTP load generator (default auto: wrk if on PATH, else node:http)
  --cold-carts <n>       carts written for cold-activation (default 3)
  --cold-events <n>      events written to each of them (default 10000)
  --cold-restarts <n>    runtime restarts, each measuring every cold cart once (default 3)
  --vs three-tier        side by side with a stateless three-tier service (issue 14); runs only
                         this set unless --scenarios is given too
  --vs-sites <a,b>       pg, sqlite, pg-remote (default all: local PostgreSQL, SQLite, and
                         PostgreSQL behind a relay that delays each direction)
  --vs-workloads <a,b>   ${VS_WORKLOADS.join(", ")} (default all)
  --db-delay-us <us>     pg-remote: delay of each direction, microseconds (default 1000)
  --pool-size <n>        pg pool of the three-tier service (default 10, pg's own default)
  --memory-entities <a,b> active counters of each memory measurement (default 1000,100000)
  --profile <dir>        with --vs: every Cairn runtime runs under node --cpu-prof and writes its
                         profile to <dir>/<site>-<tally|cart>/ when it stops (read it with
                         node bench/dist/profile-summary.js <file>)
  --json                 print the full result as JSON on stdout (progress stays on stderr)
  --help                 this text

Client, runtime and user function run on the same machine and share its cores;
see bench/README.md for what each scenario measures.`;

function positive(
  name: string,
  raw: string | undefined,
  fallback: number,
  allowZero = false,
): number | string {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    return `--${name} must be a positive number, got '${raw}'`;
  return n;
}

/** A comma-separated subset of `all`, in `all`'s order; every unknown name is a problem. */
function list<T extends string>(
  flag: string,
  raw: string | undefined,
  all: readonly T[],
  problems: string[],
): T[] {
  if (raw === undefined) return [...all];
  const names = raw
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
  for (const n of names)
    if (!(all as readonly string[]).includes(n))
      problems.push(`${flag}: unknown name '${n}': choose among ${all.join(", ")}`);
  return all.filter((x) => names.includes(x));
}

/** Parses argv (without node and script); every problem is reported, one per line. */
export function parseOptions(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { value: BenchOptions } | { error: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        duration: { type: "string" },
        warmup: { type: "string" },
        scenarios: { type: "string" },
        store: { type: "string" },
        "postgres-url": { type: "string" },
        concurrency: { type: "string" },
        carts: { type: "string" },
        "grpc-channels": { type: "string" },
        "http-client": { type: "string" },
        "cold-carts": { type: "string" },
        "cold-events": { type: "string" },
        "cold-restarts": { type: "string" },
        "memory-entities": { type: "string" },
        json: { type: "boolean" },
        vs: { type: "string" },
        "vs-sites": { type: "string" },
        "vs-workloads": { type: "string" },
        "db-delay-us": { type: "string" },
        "pool-size": { type: "string" },
        profile: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    return { error: `${(err as Error).message}\nrun with --help for the options` };
  }
  const v = parsed.values;
  const problems: string[] = [];
  const num = (
    name: string,
    raw: string | undefined,
    fallback: number,
    allowZero = false,
  ): number => {
    const r = positive(name, raw, fallback, allowZero);
    if (typeof r === "string") {
      problems.push(r);
      return fallback;
    }
    return r;
  };

  const scenarios: ScenarioName[] = [];
  for (const s of (v.scenarios ?? SCENARIOS.join(","))
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")) {
    if ((SCENARIOS as readonly string[]).includes(s)) scenarios.push(s as ScenarioName);
    else if (ALIASES[s] !== undefined) scenarios.push(...ALIASES[s]);
    else
      problems.push(
        `unknown scenario '${s}': choose among ${[...SCENARIOS, ...Object.keys(ALIASES)].join(", ")}`,
      );
  }
  const store = v.store ?? "sqlite";
  if (store !== "sqlite" && store !== "postgres" && store !== "memory") {
    problems.push(`--store must be sqlite, postgres or memory, got '${store}'`);
  }
  const httpClient = v["http-client"] ?? "auto";
  if (httpClient !== "auto" && httpClient !== "node" && httpClient !== "wrk") {
    problems.push(`--http-client must be auto, node or wrk, got '${httpClient}'`);
  }
  if (v.vs !== undefined && v.vs !== "three-tier")
    problems.push(`--vs must be three-tier (the only baseline so far), got '${v.vs}'`);
  const vsSites = list("--vs-sites", v["vs-sites"], VS_SITES, problems);
  const vsWorkloads = list("--vs-workloads", v["vs-workloads"], VS_WORKLOADS, problems);
  const vs = v.vs !== undefined;
  if (v.profile !== undefined && !vs)
    problems.push("--profile applies to the side-by-side run: add --vs three-tier");
  const postgresUrl =
    v["postgres-url"] ??
    env.CAIRN_BENCH_POSTGRES_URL ??
    (vs && vsSites.some((x) => x !== "sqlite")
      ? (env.CAIRN_TEST_POSTGRES_URL ?? DEFAULT_VS_POSTGRES_URL)
      : undefined);
  if (store === "postgres" && postgresUrl === undefined) {
    problems.push(
      "--store postgres needs --postgres-url <url> or CAIRN_BENCH_POSTGRES_URL (the bench does not start a database)",
    );
  }

  const value: BenchOptions = {
    // The side-by-side set has 42 rows: 8 s each keeps a full run under 10 minutes.
    durationS: num(
      "duration",
      v.duration,
      v.vs !== undefined && v.scenarios === undefined ? 8 : 10,
    ),
    warmupS: num("warmup", v.warmup, 2, true),
    // Sorted into the canonical order: baselines first, cold-activation last
    // (it restarts the runtime, which would disturb anything after it).
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    store: store as BenchOptions["store"],
    postgresUrl,
    concurrency: Math.round(num("concurrency", v.concurrency, 64)),
    carts: Math.round(num("carts", v.carts, 1000)),
    grpcChannels: Math.round(num("grpc-channels", v["grpc-channels"], 1)),
    httpClient: httpClient as BenchOptions["httpClient"],
    coldCarts: Math.round(num("cold-carts", v["cold-carts"], 3)),
    coldEvents: Math.round(num("cold-events", v["cold-events"], 10_000)),
    coldRestarts: Math.round(num("cold-restarts", v["cold-restarts"], 3)),
    memoryEntities: (v["memory-entities"] ?? "1000,100000")
      .split(",")
      .map((x) => Math.round(num("memory-entities", x.trim(), 1000))),
    json: v.json ?? false,
    help: v.help ?? false,
    vs,
    vsSites,
    vsWorkloads,
    dbDelayUs: num("db-delay-us", v["db-delay-us"], 1000, true),
    poolSize: Math.round(num("pool-size", v["pool-size"], 10)),
    scenariosGiven: v.scenarios !== undefined,
    profileDir: v.profile,
  };
  return problems.length > 0 ? { error: problems.join("\n") } : { value };
}
