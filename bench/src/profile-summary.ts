/**
 * Reads a V8 CPU profile (`node --cpu-prof`, as `--vs three-tier --profile`
 * writes for each runtime) and prints where the time went in its busiest
 * window: the functions with the most self time, and the share of samples
 * whose stack is inside each of the costs issue 14 names (reply writes,
 * postMessage to the SQLite worker, GC, protobuf, AbortSignal, the router's
 * second decode of the entity key, ...).
 *
 *   node bench/dist/profile-summary.js <file.cpuprofile> [--window 8] [--top 25]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A cost to look for in each sample's stack: any frame matching counts the sample. */
const CATEGORIES: ReadonlyArray<[string, (f: CallFrame) => boolean]> = [
  ["garbage collector", (f) => f.functionName === "(garbage collector)"],
  [
    "socket writes (writev/writeBuffer/writeUtf8String)",
    (f) =>
      /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(f.functionName) &&
      f.url === "",
  ],
  ["postMessage (to the SQLite worker)", (f) => f.functionName === "postMessage"],
  [
    "protobuf encode (toBinary)",
    (f) => f.url.includes("@bufbuild/protobuf") && /to-binary/.test(f.url),
  ],
  [
    "protobuf decode (fromBinary)",
    (f) => f.url.includes("@bufbuild/protobuf") && /from-binary/.test(f.url),
  ],
  ["protobuf, all of @bufbuild/protobuf", (f) => f.url.includes("@bufbuild/protobuf")],
  [
    "AbortController / AbortSignal",
    (f) =>
      /Abort(Controller|Signal)|^abort$/.test(f.functionName) ||
      f.url.includes("internal/abort_controller"),
  ],
  ["router entityKey (second decode of the request)", (f) => f.functionName === "entityKey"],
  ["grpc-js (function hop)", (f) => f.url.includes("@grpc/grpc-js")],
  ["node:http server (parse, headers, replies)", (f) => /node:_http_|node:http/.test(f.url)],
  ["JSON parse/stringify", (f) => /^(parse|stringify)$/.test(f.functionName) && f.url === ""],
  ["pino (logging)", (f) => f.url.includes("/pino")],
  ["prom-client (metrics)", (f) => f.url.includes("prom-client")],
  ["pg (PostgreSQL client)", (f) => f.url.includes("/pg/") || f.url.includes("/pg-protocol/")],
  ["runtime code (packages/runtime)", (f) => f.url.includes("packages/runtime/")],
];

function shortUrl(url: string): string {
  const m = /(node_modules\/.*|packages\/.*|node:.*)$/.exec(url);
  return m ? m[1]! : url;
}

/** The [from, to) sample indexes of the `windowUs` span with the fewest idle samples. */
function busiest(p: CpuProfile, idle: Set<number>, windowUs: number): [number, number] {
  let from = 0;
  let busy = 0;
  let best: [number, number, number] = [0, p.samples.length, -1];
  let t = 0;
  const times = p.timeDeltas.map((d) => (t += d));
  for (let to = 0; to < p.samples.length; to++) {
    if (!idle.has(p.samples[to]!)) busy++;
    while (times[to]! - times[from]! > windowUs) if (!idle.has(p.samples[from++]!)) busy--;
    if (busy > best[2]) best = [from, to + 1, busy];
  }
  return [best[0], best[1]];
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { window: { type: "string" }, top: { type: "string" } },
  });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write("usage: profile-summary <file.cpuprofile> [--window 8] [--top 25]\n");
    process.exit(2);
  }
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const idle = new Set(
    p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  const [from, to] = busiest(p, idle, Number(values.window ?? 8) * 1e6);
  const self = new Map<string, number>();
  const inCategory = new Map<string, number>();
  let total = 0;
  let idleSamples = 0;
  let spanUs = 0;
  for (let i = from; i < to; i++) {
    spanUs += p.timeDeltas[i]!;
    const id = p.samples[i]!;
    if (idle.has(id)) {
      idleSamples++;
      continue;
    }
    total++;
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + 1);
    const stack: CallFrame[] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n))
      stack.push(byId.get(n)!.callFrame);
    for (const [name, match] of CATEGORIES)
      if (stack.some(match)) inCategory.set(name, (inCategory.get(name) ?? 0) + 1);
  }
  const pct = (n: number): string => `${((100 * n) / total).toFixed(1)}%`;
  console.log(
    `${file}: busiest ${(spanUs / 1e6).toFixed(1)} s window, ${total} busy samples (${((100 * total) / (total + idleSamples)).toFixed(0)}% of the window's samples; the rest idle)`,
  );
  console.log("");
  console.log("| cost (sample's stack inside it) | share of busy samples |");
  console.log("|---|---|");
  for (const [name] of CATEGORIES) console.log(`| ${name} | ${pct(inCategory.get(name) ?? 0)} |`);
  console.log("");
  console.log("| self time | function |");
  console.log("|---|---|");
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top ?? 25));
  for (const [key, n] of top) console.log(`| ${pct(n)} | \`${key}\` |`);
}

main();
