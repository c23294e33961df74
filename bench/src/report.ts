/**
 * The results table: baselines first, then the bench function's action and
 * value entity (issue 3), then the cart scenarios with issue 2's targets and
 * the best-known peer's numbers beside them. Printed as a
 * Markdown table so a run can be pasted into bench/RESULTS.md as is.
 */
import type { ColdSummary } from "./cold.js";
import type { CpuUsage } from "./cpu.js";
import type { MemoryResult } from "./memory.js";
import type { ScenarioName } from "./options.js";
import type { Summary } from "./stats.js";

/** The outcome of one scenario. */
export interface ScenarioResult {
  name: ScenarioName;
  /** 1-minute load average when it started: other work on the machine shows here. */
  loadavg: number;
  summary?: Summary;
  cold?: ColdSummary;
  /** The memory scenario's measurements, one per count (printed as their own table). */
  memory?: MemoryResult[];
  /** CPU of each process over the measured window (Linux). */
  cpu?: CpuUsage;
  /** Why it did not run (option, store), or why it failed. */
  skipped?: string;
  failed?: string;
}

interface Target {
  text: string;
  met: (r: ScenarioResult) => boolean | undefined;
}

/**
 * A run whose answers are mostly failures cannot meet a target, however fast
 * the failures were: more than 0.1% errors, or no success at all, is a miss.
 */
function healthy(s: Summary | undefined): s is Summary {
  return s !== undefined && s.ok > 0 && s.errors <= 0.001 * (s.ok + s.errors);
}

/** The targets of issue 2 (shopping cart), checked against each row. */
export const TARGETS: Partial<Record<ScenarioName, Target>> = {
  "http-1000": {
    text: "≥ 5,000/s, p99 < 50 ms",
    met: (r) => r.summary && healthy(r.summary) && r.summary.rps >= 5000 && r.summary.p99 < 50,
  },
  "http-hot": {
    text: "≥ 1,500/s",
    met: (r) => r.summary && healthy(r.summary) && r.summary.rps >= 1500,
  },
  "http-serial": {
    text: "p50 < 1 ms",
    met: (r) => r.summary && healthy(r.summary) && r.summary.p50 < 1,
  },
  "cold-activation": {
    text: "< 20 ms",
    met: (r) =>
      r.cold &&
      r.cold.complete &&
      r.cold.mismatches === 0 &&
      Object.keys(r.cold.readErrors).length === 0 &&
      r.cold.samples.length > 0 &&
      r.cold.p50 < 20,
  },
  memory: {
    text: "runtime ≤ 1 KB/entity",
    met: (r) => {
      const b = runtimeBytesPerEntity(r);
      return Number.isNaN(b) ? undefined : b <= 1000;
    },
  },
};

/** Runtime RSS growth per entity (bytes) at the largest count of the memory scenario. */
function runtimeBytesPerEntity(r: ScenarioResult): number {
  const last = r.memory?.[r.memory.length - 1];
  return last ? (last.runtime.after.rss - last.runtime.before.rss) / last.entities : NaN;
}

/** The best-known peer, measured earlier on this machine; quoted, not re-run. */
export const PEER: Partial<Record<ScenarioName, string>> = {
  "http-1000": "1,000/s, p99 117 ms",
  "http-hot": "236/s",
  "http-serial": "p50 4.2 ms",
};

/** What each row measures, one line, for the legend under the table. */
export const DESCRIPTIONS: Record<ScenarioName, string> = {
  "grpc-echo": "baseline: grpc-js unary echo server (own process), grpc-js client, N in flight",
  "http-echo":
    "baseline: node:http JSON echo server (own process), HTTP/1.1 keep-alive, N in flight",
  "action-echo-grpc":
    "Echo.Echo action (returns its input) over gRPC through the runtime and the bench function, N in flight, no store",
  "action-echo-http":
    "Echo.Echo action over HTTP/JSON, POST /echo, through the runtime and the bench function, N in flight, no store",
  "value-update":
    "Counter.Increment value entity over HTTP/JSON, POST /counters/{id}/increment, random among the counters, N in flight; each reply waits for the new state's commit",
  "http-1000":
    "AddItem over HTTP/JSON, POST /carts/{id}/items, random among the carts, N in flight",
  "http-1000-keyed":
    "as http-1000, each request with its own idempotency-key header (the key and reply stored with the events)",
  "grpc-1000": "AddItem over gRPC (grpc-js), random among the carts, N in flight",
  "http-hot": "AddItem over HTTP/JSON, one single cart, N in flight",
  "http-serial": "AddItem over HTTP/JSON, one request in flight, random among the carts",
  "cold-activation":
    "first GetCart on a cart of many events after a runtime restart (snapshot + replay)",
  memory:
    "memory per active entity: N Tally counters activated (one GET each) behind a fresh runtime; RSS and live heap (after a full GC) before and after",
};

function fmtMs(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "—";
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

function fmtRps(v: number): string {
  return Math.round(v).toLocaleString("en-US");
}

function errors(byKind: Record<string, number>): string {
  const parts = Object.entries(byKind).map(([k, n]) => `${n} ${k}`);
  return parts.length === 0 ? "0" : parts.join(", ");
}

function row(r: ScenarioResult): string[] {
  const target = TARGETS[r.name];
  const met = target?.met(r);
  const tail = [
    target?.text ?? "—",
    met === undefined ? "—" : met ? "yes" : "**no**",
    PEER[r.name] ?? "—",
  ];
  if (r.skipped !== undefined || r.failed !== undefined) {
    return [
      r.name,
      r.failed !== undefined
        ? `failed: ${r.failed.split("\n")[0]!.slice(0, 60)}`
        : `skipped: ${r.skipped}`,
      "",
      "",
      "",
      "",
      "",
      ...tail,
    ];
  }
  if (r.memory) {
    const last = r.memory[r.memory.length - 1];
    const at = last ? ` at ${last.entities.toLocaleString("en-US")}` : "";
    return [
      r.name,
      `— (runtime RSS ${fmtMs(runtimeBytesPerEntity(r) / 1024)} KiB/entity${at})`,
      "—",
      "—",
      "—",
      "—",
      "0",
      ...tail,
    ];
  }
  if (r.cold) {
    const c = r.cold;
    const errs = { ...c.readErrors };
    if (c.mismatches > 0) errs["wrong total"] = c.mismatches;
    if (!c.complete) errs["carts not fully written"] = c.carts;
    return [
      r.name,
      `— (${c.samples.length} activations)`,
      fmtMs(c.p50),
      "—",
      "—",
      fmtMs(c.max),
      errors(errs),
      ...tail,
    ];
  }
  const s = r.summary!;
  return [
    r.name,
    fmtRps(s.rps),
    fmtMs(s.p50),
    fmtMs(s.p99),
    fmtMs(s.p999),
    fmtMs(s.max),
    errors(s.errorsByKind),
    ...tail,
  ];
}

/** The Markdown results table. */
export function table(results: ScenarioResult[]): string {
  const head = [
    "scenario",
    "req/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "target",
    "met",
    "peer (quoted)",
  ];
  const rows = results.map(row);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The bare transport each action row is compared with. */
const BASELINE_OF: Partial<Record<ScenarioName, ScenarioName>> = {
  "action-echo-grpc": "grpc-echo",
  "action-echo-http": "http-echo",
};

/**
 * "vs grpc-echo: 38% of its throughput, p50 +1.20 ms": what the runtime and
 * function hop add to the bare transport, when both rows measured something.
 */
function hopLine(r: ScenarioResult, results: ScenarioResult[]): string | undefined {
  const baseName = BASELINE_OF[r.name];
  const base = results.find((b) => b.name === baseName)?.summary;
  const s = r.summary;
  if (baseName === undefined || !healthy(base) || !healthy(s)) return undefined;
  const delta = (a: number, b: number): string => `${a - b >= 0 ? "+" : ""}${fmtMs(a - b)} ms`;
  return (
    `vs ${baseName}: ${Math.round((100 * s.rps) / base.rps)}% of its throughput, ` +
    `p50 ${delta(s.p50, base.p50)}, p99 ${delta(s.p99, base.p99)} (the runtime + function hop)`
  );
}

/** Lines under the table: what each row is, and details that do not fit in it. */
export function notes(results: ScenarioResult[], concurrency: number): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(
      `- ${r.name}: ${DESCRIPTIONS[r.name].replace("N in flight", `${concurrency} in flight`)} (load avg ${r.loadavg.toFixed(2)} at start)`,
    );
    if (r.cpu) out.push(`  ${cpuLine(r.cpu, r.summary)}`);
    const hop = hopLine(r, results);
    if (hop !== undefined) out.push(`  ${hop}`);
    if (r.cold) {
      const c = r.cold;
      const events = Math.min(...c.eventsPerCart);
      out.push(
        `  ${c.carts} carts of ${events === Math.max(...c.eventsPerCart) ? events : `${events}-${Math.max(...c.eventsPerCart)}`} events, written at ${fmtRps(c.writeRps)} AddItem/s` +
          ` (errors: ${errors(c.writeErrors)}); activations ms: min ${fmtMs(c.min)}, p50 ${fmtMs(c.p50)}, max ${fmtMs(c.max)}`,
      );
      const perCart = c.perCart.map((ms, i) => {
        const snap = c.snapshotAt[i];
        const events = c.eventsPerCart[i]!;
        const replay =
          snap === undefined
            ? ""
            : snap === 0
              ? ` (no snapshot: ${events} to replay)`
              : ` (snapshot at ${snap}: ${events - snap} to replay)`;
        return `${events} events${replay}: ${ms.map(fmtMs).join(", ")}`;
      });
      out.push(`  per cart, one activation per restart: ${perCart.join("; ")}`);
    }
    if (r.failed !== undefined)
      out.push(`  failed: ${r.failed.split("\n").slice(0, 6).join(" / ")}`);
  }
  return out.join("\n");
}

/**
 * "cpu (% of one core): runtime 120 (0.31 ms/req), function 40 (0.10 ms/req),
 * bench (client) 25; machine 98% busy". CPU per request stays comparable when
 * other work on the machine lowers throughput.
 */
function cpuLine(cpu: CpuUsage, summary: Summary | undefined): string {
  const parts = Object.entries(cpu.byProcess).map(([name, pct]) => {
    const perReq =
      summary && summary.rps > 0
        ? ` (${(((pct / 100) * 1000) / summary.rps).toFixed(3)} ms/req)`
        : "";
    return `${name} ${Math.round(pct)}${perReq}`;
  });
  return (
    `cpu (% of one core): ${parts.join(", ")}, everything else ${Math.round(cpu.otherPct)}; ` +
    `machine ${Math.round(cpu.machineBusyPct)}% busy`
  );
}
