/**
 * `npm run bench -- --vs three-tier` (issue 14): Cairn side by side with the
 * stateless three-tier service users would otherwise write, in one run, on
 * the same databases, driven by the same load generator with the same
 * requests.
 *
 * For each site (local PostgreSQL, SQLite, PostgreSQL one hop away through
 * the delay relay) both systems are started and stay up together; then every
 * workload runs on the three-tier service and right after on Cairn, so each
 * ratio compares two measurements minutes apart at most. An idle system costs
 * next to nothing while the other is measured (its CPU is in the notes).
 *
 * Cairn is two runtimes per site (`cairn runtime`, each on a fresh store):
 * one in front of the bench function (the `Tally` event-sourced counter), one
 * in front of the shopping-cart sample (the cart). The three-tier service is
 * one process serving both route sets (three-tier-server.ts).
 */
import * as os from "node:os";
import { join } from "node:path";
import pg from "pg";
import { CpuProbe } from "./cpu.js";
import type { CpuUsage } from "./cpu.js";
import type { WindowProbe } from "./load.js";
import { liveProcesses, startFunction, startRuntime, startThreeTier, tempDir } from "./procs.js";
import type { Proc } from "./procs.js";
import {
  buildRelay,
  measureRoundTrip,
  serverSettings,
  startRelay,
  upstreamOf,
  viaRelay,
} from "./relay.js";
import type { Relay, RelayStats, RoundTrip } from "./relay.js";
import { CART_MIX_ROUTE, TALLY_GET_ROUTE, TALLY_INCREMENT_ROUTE, httpLoad } from "./scenarios.js";
import type { HttpGenerator, HttpRoute, LoadShape } from "./scenarios.js";
import type { Summary } from "./stats.js";
import { VS_SITES } from "./vs-names.js";
import type { VsSite, VsWorkload } from "./vs-names.js";

export { VS_SITES, VS_WORKLOADS } from "./vs-names.js";
export type { VsSite, VsWorkload } from "./vs-names.js";

/** Options of {@link runVs}. */
export interface VsOptions {
  sites: readonly VsSite[];
  workloads: readonly VsWorkload[];
  postgresUrl: string;
  /** Relay delay each way, microseconds. */
  delayUs: number;
  /** pg pool size of the three-tier service. */
  poolSize: number;
  /** Distinct keys (counters and carts) of the many-keys workloads. */
  keys: number;
  shape: LoadShape;
  gen: HttpGenerator;
  log: (line: string) => void;
  /** Where the runtimes write CPU profiles (`--cpu-prof`), if anywhere. */
  profileDir?: string | undefined;
}

/** One system's measurement of one workload. */
export interface VsSide {
  summary?: Summary;
  cpu?: CpuUsage;
  /** Relay counters over the measured window (pg-remote only). */
  relay?: RelayStats;
  failed?: string;
}

/** One workload on one site, both systems. */
export interface VsRow {
  workload: VsWorkload;
  site: VsSite;
  loadavg: number;
  threeTier: VsSide;
  cairn: VsSide;
}

/** What a site was: the database's round trip, measured (pg and pg-remote). */
export interface VsSiteInfo {
  site: VsSite;
  /** `SELECT 1` round trip as the systems see it (through the relay for pg-remote). */
  roundTrip?: RoundTrip;
  /** The same, straight to the database. */
  directRoundTrip?: RoundTrip;
  delayUs?: number;
  /** Server version and durability settings (PostgreSQL). */
  settings?: string;
  /** How late the relay delivered chunks while the site was measured. */
  relayLate?: { meanUs: number; maxUs: number };
  failed?: string;
}

/** Everything a side-by-side run measured. */
export interface VsResult {
  sites: VsSiteInfo[];
  rows: VsRow[];
}

/** What one workload sends and to how many entities, at what depth. */
function workloadShape(
  w: VsWorkload,
  keys: number,
  concurrency: number,
): { route: HttpRoute; entities: number; prefix: string; concurrency: number; cart: boolean } {
  const write = w.startsWith("write");
  const route = w === "cart-mix" ? CART_MIX_ROUTE : write ? TALLY_INCREMENT_ROUTE : TALLY_GET_ROUTE;
  const hot = w.endsWith("-hot");
  return {
    route,
    entities: hot ? 0 : keys,
    prefix: w === "cart-mix" ? "cart" : hot ? "hot" : "k",
    concurrency: w.endsWith("-serial") ? 1 : concurrency,
    cart: w === "cart-mix",
  };
}

/** The running systems of one site. */
interface SiteSystems {
  threeTier: number;
  tallies: number;
  carts: number;
  relay?: Relay;
  procs: Proc[];
  schemas: string[];
}

async function startSite(
  site: VsSite,
  o: VsOptions,
  runId: string,
  dir: string,
  info: VsSiteInfo,
  procs: Proc[],
  schemas: string[],
): Promise<SiteSystems> {
  let url = o.postgresUrl;
  let relay: Relay | undefined;
  if (site === "pg-remote") {
    const binary = buildRelay();
    if ("error" in binary) throw new Error(binary.error);
    const up = upstreamOf(o.postgresUrl);
    relay = await startRelay(binary.value, up.host, up.port, o.delayUs);
    procs.push(relay.proc);
    url = viaRelay(o.postgresUrl, relay.port);
    info.delayUs = o.delayUs;
    info.directRoundTrip = await measureRoundTrip(o.postgresUrl);
  }
  if (site !== "sqlite") {
    info.settings = await serverSettings(url);
    info.roundTrip = await measureRoundTrip(url);
  }
  const tag = `${runId}_${site.replace("-", "_")}`;
  const cairnStore = (which: string): string => {
    if (site === "sqlite") return join(dir, `cairn-${which}.db`);
    schemas.push(`cairn_bench_${tag}_${which}`);
    return `${url}${url.includes("?") ? "&" : "?"}schema=cairn_bench_${tag}_${which}`;
  };
  const ttArgs =
    site === "sqlite"
      ? ["sqlite", join(dir, "three-tier.db")]
      : ["postgres", url, `tt_bench_${tag}`, String(o.poolSize)];
  if (site !== "sqlite") schemas.push(`tt_bench_${tag}`);
  const tt = await startThreeTier(ttArgs);
  procs.push(tt.proc);
  const talliesFn = await startFunction("bench", "function (tally)");
  procs.push(talliesFn.proc);
  const profile = (which: string): string[] =>
    o.profileDir === undefined
      ? []
      : ["--cpu-prof", "--cpu-prof-dir", join(o.profileDir, `${site}-${which}`)];
  const tallies = await startRuntime(talliesFn.port, cairnStore("tally"), {
    name: "runtime (tally)",
    nodeArgs: profile("tally"),
  });
  procs.push(tallies.proc);
  const cartsFn = await startFunction("shopping-cart", "function (cart)");
  procs.push(cartsFn.proc);
  const carts = await startRuntime(cartsFn.port, cairnStore("cart"), {
    name: "runtime (cart)",
    nodeArgs: profile("cart"),
  });
  procs.push(carts.proc);
  const systems: SiteSystems = {
    threeTier: tt.port,
    tallies: tallies.port,
    carts: carts.port,
    procs,
    schemas,
  };
  if (relay !== undefined) systems.relay = relay;
  return systems;
}

/** Runs one workload against one system; a failure becomes the side's `failed`. */
async function measureSide(
  port: number,
  w: ReturnType<typeof workloadShape>,
  o: VsOptions,
  prefix: string,
  relay: Relay | undefined,
): Promise<VsSide> {
  const cpu = new CpuProbe(liveProcesses);
  const probe: WindowProbe = {
    start: () => {
      cpu.start();
      relay?.reset();
    },
    end: () => cpu.end(),
    external: (name, s) => cpu.external(name, s),
  };
  try {
    const summary = await httpLoad(
      port,
      { ...o.shape, concurrency: w.concurrency, probe },
      w.route,
      w.entities,
      prefix,
      o.gen,
    );
    const side: VsSide = { summary };
    if (cpu.usage !== undefined) side.cpu = cpu.usage;
    if (relay !== undefined) side.relay = await relay.stats();
    return side;
  } catch (err) {
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}

function line(name: string, s: VsSide): string {
  if (s.failed !== undefined) return `${name} failed: ${s.failed.split("\n")[0]}`;
  const m = s.summary!;
  return `${name} ${Math.round(m.rps)}/s p50 ${m.p50.toFixed(2)} p99 ${m.p99.toFixed(2)} ms, ${m.errors} errors`;
}

async function runSite(
  site: VsSite,
  o: VsOptions,
  runId: string,
): Promise<{ info: VsSiteInfo; rows: VsRow[] }> {
  const info: VsSiteInfo = { site };
  const rows: VsRow[] = [];
  const tmp = tempDir();
  const procs: Proc[] = [];
  const schemas: string[] = [];
  try {
    o.log(`vs three-tier: starting both systems on ${site}`);
    let systems: SiteSystems;
    try {
      systems = await startSite(site, o, runId, tmp.dir, info, procs, schemas);
    } catch (err) {
      info.failed = `did not start: ${err instanceof Error ? err.message : String(err)}`;
      o.log(`  ${info.failed}`);
      return { info, rows };
    }
    let lateSum = 0;
    let lateN = 0;
    let lateMax = 0;
    for (const workload of o.workloads) {
      const w = workloadShape(workload, o.keys, o.shape.concurrency);
      const loadavg = os.loadavg()[0] ?? 0;
      o.log(`> ${workload} on ${site}`);
      const prefix = `${w.prefix}-${runId}`;
      const threeTier = await measureSide(systems.threeTier, w, o, prefix, systems.relay);
      o.log(`  ${line("three-tier", threeTier)}`);
      const port = w.cart ? systems.carts : systems.tallies;
      const cairn = await measureSide(port, w, o, prefix, systems.relay);
      o.log(`  ${line("cairn", cairn)}`);
      for (const s of [threeTier, cairn]) {
        if (s.relay === undefined || s.relay.chunks === 0) continue;
        lateSum += s.relay.lateMeanUs * s.relay.chunks;
        lateN += s.relay.chunks;
        lateMax = Math.max(lateMax, s.relay.lateMaxUs);
      }
      rows.push({ workload, site, loadavg, threeTier, cairn });
    }
    if (lateN > 0) info.relayLate = { meanUs: lateSum / lateN, maxUs: lateMax };
    return { info, rows };
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await dropSchemas(o.postgresUrl, schemas);
    tmp.cleanup();
  }
}

/** Drops the run's schemas: a side-by-side run leaves nothing behind in a shared database. */
async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } catch {
    // Best effort: a schema left behind is named cairn_bench_* / tt_bench_* and harmless.
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs every selected site, one after another. */
export async function runVs(o: VsOptions): Promise<VsResult> {
  const runId = Date.now().toString(36);
  const result: VsResult = { sites: [], rows: [] };
  for (const site of VS_SITES.filter((s) => o.sites.includes(s))) {
    const { info, rows } = await runSite(site, o, runId);
    result.sites.push(info);
    result.rows.push(...rows);
  }
  return result;
}
