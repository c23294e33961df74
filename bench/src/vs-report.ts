/**
 * The side-by-side table of `--vs three-tier` (issue 14): each workload on
 * each database, the three-tier service and Cairn in adjacent columns, their
 * ratio, and issue 14's target for that ratio. Every target is a ratio of two
 * measurements of the same run, so a busy machine moves both sides.
 */
import type { CpuUsage } from "./cpu.js";
import type { Summary } from "./stats.js";
import type { VsResult, VsRow, VsSide, VsSite, VsSiteInfo, VsWorkload } from "./vs.js";

/** A target on the Cairn / three-tier ratio of one row. */
interface VsTarget {
  text: string;
  /** The measured ratio the target is about, and whether it is met. */
  check: (cairn: Summary, tt: Summary) => { ratio: number; met: boolean; missedBy: string };
}

const throughputAtLeast = (k: number): VsTarget => ({
  text: `req/s ≥ ${k}×`,
  check: (c, t) => {
    const ratio = c.rps / t.rps;
    return { ratio, met: ratio >= k, missedBy: `${Math.round((1 - ratio / k) * 100)}% short` };
  },
});

const p50AtMost = (k: number): VsTarget => ({
  text: k === 1 ? "p50 ≤ three-tier's" : `p50 ≤ ${k}×`,
  check: (c, t) => {
    const ratio = c.p50 / t.p50;
    return { ratio, met: ratio <= k, missedBy: `${(ratio / k).toFixed(2)}× the allowed p50` };
  },
});

/** Issue 14's targets: on the same local database, and with the database one hop away. */
function targetsOf(site: VsSite, w: VsWorkload): VsTarget[] {
  const remote = site === "pg-remote";
  switch (w) {
    case "write-1000":
      return [throughputAtLeast(1.5)];
    case "write-hot":
      return [throughputAtLeast(3)];
    case "write-serial":
      return [p50AtMost(remote ? 1.2 : 1)];
    case "read-1000":
    case "read-hot":
      return remote ? [p50AtMost(0.2)] : [throughputAtLeast(2), p50AtMost(0.5)];
    case "read-serial":
      return [p50AtMost(remote ? 0.2 : 0.5)];
    case "cart-mix":
      return [];
  }
}

/** A side that measured something without more than 0.1% errors. */
function healthy(s: VsSide): Summary | undefined {
  const m = s.summary;
  return m !== undefined && m.ok > 0 && m.errors <= 0.001 * (m.ok + m.errors) ? m : undefined;
}

function ms(v: number): string {
  return Number.isNaN(v) ? "—" : v < 10 ? v.toFixed(2) : v.toFixed(1);
}

function rps(v: number): string {
  return Math.round(v).toLocaleString("en-US");
}

function cells(s: VsSide): string[] {
  if (s.failed !== undefined) return [`failed: ${s.failed.split("\n")[0]!.slice(0, 40)}`, "", ""];
  const m = s.summary!;
  const errs = m.errors > 0 ? ` (${m.errors} err)` : "";
  return [`${rps(m.rps)}${errs}`, ms(m.p50), ms(m.p99)];
}

function judged(r: VsRow): { ratio: string; target: string; met: string } {
  const c = healthy(r.cairn);
  const t = healthy(r.threeTier);
  const targets = targetsOf(r.site, r.workload);
  if (c === undefined || t === undefined)
    return { ratio: "—", target: targets.map((x) => x.text).join(", ") || "—", met: "—" };
  const ratio = `${(c.rps / t.rps).toFixed(2)}× req/s, p50 ${(c.p50 / t.p50).toFixed(2)}×`;
  const checks = targets.map((x) => x.check(c, t));
  return {
    ratio,
    target: targets.map((x) => x.text).join(", ") || "—",
    met: checks.length === 0 ? "—" : checks.every((x) => x.met) ? "yes" : "**no**",
  };
}

const SITE_TEXT: Record<VsSite, string> = {
  pg: "PostgreSQL",
  sqlite: "SQLite",
  "pg-remote": "PostgreSQL, 1 hop",
};

/** The side-by-side Markdown table. */
export function vsTable(result: VsResult): string {
  const head = [
    "workload",
    "database",
    "three-tier req/s",
    "p50 ms",
    "p99 ms",
    "Cairn req/s",
    "p50 ms",
    "p99 ms",
    "Cairn ÷ three-tier",
    "target",
    "met",
  ];
  const rows = result.rows.map((r) => {
    const j = judged(r);
    return [
      r.workload,
      SITE_TEXT[r.site],
      ...cells(r.threeTier),
      ...cells(r.cairn),
      j.ratio,
      j.target,
      j.met,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (c: string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt)].join("\n");
}

const WORKLOAD_TEXT: Record<VsWorkload, string> = {
  "write-1000":
    "increment a counter picked at random among the keys, 64 in flight (three-tier: one UPSERT ... RETURNING; Cairn: Tally.Increment appends one event)",
  "write-hot": "increment one single counter, 64 in flight",
  "write-serial": "increment, one request in flight, random keys",
  "read-1000":
    "read a counter picked at random, 64 in flight (three-tier: one SELECT; Cairn: Tally.Get from memory)",
  "read-hot": "read one single counter, 64 in flight",
  "read-serial": "read, one request in flight, random keys",
  "cart-mix":
    "AddItem and GetCart in turn on carts picked at random, 64 in flight (three-tier: a JSON document read FOR UPDATE and written back in one transaction, one SELECT to read; Cairn: the shopping-cart sample)",
};

function cpuText(cpu: CpuUsage | undefined, s: Summary | undefined): string {
  if (cpu === undefined) return "";
  const parts = Object.entries(cpu.byProcess)
    .filter(([, pct]) => pct >= 1)
    .map(([name, pct]) => {
      const per =
        s && s.rps > 0
          ? ` (${((pct / 100) * 1000) / s.rps < 0.0005 ? "0" : (((pct / 100) * 1000) / s.rps).toFixed(3)} ms/req)`
          : "";
      return `${name} ${Math.round(pct)}${per}`;
    });
  return `cpu % of a core: ${parts.join(", ")}, everything else (PostgreSQL included) ${Math.round(cpu.otherPct)}; machine ${Math.round(cpu.machineBusyPct)}% busy`;
}

/** "database round trips: 1.00 per request" or, inside transactions, per commit with the histogram. */
function relayText(side: VsSide): string | undefined {
  const r = side.relay;
  const ok = side.summary?.ok ?? 0;
  if (r === undefined || ok === 0) return undefined;
  const rt = r.queries + r.syncs;
  let text = `database round trips ${(rt / ok).toFixed(2)} per request`;
  if (r.commits > 0) {
    const hist = r.txHistogram
      .map((n, i) => [i, n] as const)
      .filter(([, n]) => n > 0)
      .map(
        ([i, n]) =>
          `${i}${i === 15 ? "+" : ""}: ${Math.round((100 * n) / (r.commits + r.rollbacks))}%`,
      );
    text +=
      `; ${r.commits} transactions (${(ok / r.commits).toFixed(1)} requests each), ` +
      `${(r.txRoundTrips / (r.commits + r.rollbacks)).toFixed(2)} round trips per transaction ` +
      `(by round trips: ${hist.join(", ")})`;
  }
  return text;
}

function siteText(i: VsSiteInfo): string {
  if (i.failed !== undefined) return `- ${SITE_TEXT[i.site]}: ${i.failed}`;
  if (i.roundTrip === undefined)
    return `- ${SITE_TEXT[i.site]}: a fresh file per system, WAL, synchronous=FULL`;
  const rt = `SELECT 1 round trip p50 ${ms(i.roundTrip.p50)} ms, p99 ${ms(i.roundTrip.p99)} ms`;
  const settings = i.settings === undefined ? "" : `${i.settings}; `;
  if (i.site !== "pg-remote")
    return `- ${SITE_TEXT[i.site]}: ${settings}${rt} (fresh schemas, dropped after)`;
  const late = i.relayLate
    ? `; chunks left the relay late by ${i.relayLate.meanUs.toFixed(0)} µs on average, at most ${(i.relayLate.maxUs / 1000).toFixed(1)} ms`
    : "";
  return (
    `- ${SITE_TEXT[i.site]}: ${settings}the delay relay adds ${(i.delayUs ?? 0) / 1000} ms each way; measured ${rt} through it ` +
    `(direct: p50 ${ms(i.directRoundTrip?.p50 ?? NaN)} ms)${late}`
  );
}

/** Notes under the table: the sites, each workload, CPU and database round trips per row, and the misses. */
export function vsNotes(result: VsResult): string {
  const out = ["Databases:", ...result.sites.map(siteText), "", "Workloads:"];
  const seen = new Set<VsWorkload>();
  for (const r of result.rows) {
    if (seen.has(r.workload)) continue;
    seen.add(r.workload);
    out.push(`- ${r.workload}: ${WORKLOAD_TEXT[r.workload]}`);
  }
  out.push("", "Per row (load average at its start; CPU over each measured window):");
  for (const r of result.rows) {
    out.push(`- ${r.workload} on ${SITE_TEXT[r.site]} (load avg ${r.loadavg.toFixed(2)})`);
    for (const [name, side] of [
      ["three-tier", r.threeTier],
      ["Cairn", r.cairn],
    ] as const) {
      const cpu = cpuText(side.cpu, side.summary);
      if (cpu !== "") out.push(`  ${name}: ${cpu}`);
      const relay = relayText(side);
      if (relay !== undefined) out.push(`  ${name}: ${relay}`);
    }
  }
  out.push("", "Targets (issue 14):");
  for (const r of result.rows) {
    const c = healthy(r.cairn);
    const t = healthy(r.threeTier);
    for (const target of targetsOf(r.site, r.workload)) {
      if (c === undefined || t === undefined) {
        out.push(`- ${r.workload} on ${SITE_TEXT[r.site]}, ${target.text}: not measured`);
        continue;
      }
      const x = target.check(c, t);
      out.push(
        `- ${r.workload} on ${SITE_TEXT[r.site]}, ${target.text}: ${x.ratio.toFixed(3)}× ${x.met ? "met" : `missed (${x.missedBy})`}`,
      );
    }
  }
  return out.join("\n");
}
