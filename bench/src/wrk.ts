/**
 * HTTP load through `wrk` (https://github.com/wg/wrk), when it is installed.
 *
 * wrk is a C load generator: per request it spends a fraction of the CPU a
 * node:http client does, and on a 2-core machine whatever the client does
 * not use is left to the runtime and the function. It is optional: without
 * it the bench uses its own node:http client, and the setup line says which
 * client produced the numbers.
 *
 * wrk has no warm-up, so a warm-up run precedes the measured run. Like the
 * node client it is closed loop: `-c N` connections, one request in flight on
 * each. A Lua script picks the cart and counts answers by status; its `done`
 * hook prints one JSON line the bench parses.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { procSeconds } from "./cpu.js";
import type { WindowProbe } from "./load.js";
import type { HttpRoute } from "./scenarios.js";
import { track } from "./procs.js";
import type { Summary } from "./stats.js";

/** Absolute path of `wrk` on PATH, or undefined. */
export function findWrk(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "wrk");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

// args: <carts> <id prefix> <key prefix> then (<method> <path template> <body>)... carts
// = 0 means the prefix is the one entity id; "{id}" in the template is
// replaced by the id; the n-th request is the n-th triple in turn (an empty
// body sends none; a non-empty key prefix gives the n-th request the header
// idempotency-key: <key prefix>-<n>). Statuses are counted per thread
// (wrk runs one Lua state per thread) and gathered in `done` through thread:get.
const SCRIPT = `
local carts, prefix, keys, n = 0, "", "", 0
local shapes = {}
statuses = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  carts = tonumber(args[1]); prefix = args[2]; keys = args[3]
  math.randomseed(carts * 7919 + #threads)
  for i = 4, #args - 2, 3 do
    local body = args[i + 2]
    if body == "" then body = nil end
    shapes[#shapes + 1] = { method = args[i], template = args[i + 1], body = body }
  end
end
local headers = { ["Content-Type"] = "application/json" }
function request()
  n = n + 1
  local id = prefix
  if carts > 0 then id = prefix .. "-" .. math.random(0, carts - 1) end
  local shape = shapes[(n % #shapes) + 1]
  -- plain find/sub, not gsub: the id must not be read as a replacement pattern
  local at = string.find(shape.template, "{id}", 1, true)
  local path = shape.template
  if at then path = string.sub(path, 1, at - 1) .. id .. string.sub(path, at + 4) end
  if keys ~= "" then
    return wrk.format(shape.method, path, { ["Content-Type"] = "application/json", ["Idempotency-Key"] = keys .. "-" .. n }, shape.body)
  end
  return wrk.format(shape.method, path, headers, shape.body)
end
function response(status, hdrs, body)
  if status ~= 200 then statuses[status] = (statuses[status] or 0) + 1 end
end
function done(summary, latency, requests)
  local by = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do by[#by + 1] = string.format('"http %d":%d', k, v) end
  end
  local e = summary.errors
  for _, k in ipairs({ "connect", "read", "write", "timeout" }) do
    if e[k] > 0 then by[#by + 1] = string.format('"%s":%d', k, e[k]) end
  end
  io.write(string.format('WRKJSON {"requests":%d,"us":%d,"statusErrors":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%f,"errorsByKind":{%s}}\\n',
    summary.requests, summary.duration, e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, table.concat(by, ",")))
end
`;

interface WrkJson {
  requests: number;
  us: number;
  statusErrors: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  errorsByKind: Record<string, number>;
}

/** Options of {@link runWrk}. */
export interface WrkOptions {
  wrk: string;
  port: number;
  /** Distinct entities; 0 sends everything to the entity named `prefix`. */
  carts: number;
  prefix: string;
  /** What to send: the route's requests in turn, `{id}` replaced by the entity id. */
  route: HttpRoute;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** A directory for the Lua script. */
  dir: string;
  probe?: WindowProbe | undefined;
}

/** One wrk run: its result, and the CPU seconds it used (sampled while it ran). */
function once(o: WrkOptions, ms: number): Promise<{ result: WrkJson; cpuSeconds: number }> {
  const script = join(o.dir, "bench.lua");
  writeFileSync(script, SCRIPT);
  const seconds = Math.max(1, Math.round(ms / 1000));
  const args = [
    "-t",
    "1",
    "-c",
    String(o.concurrency),
    "-d",
    `${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    script,
  ];
  args.push(
    `http://127.0.0.1:${o.port}`,
    "--",
    String(o.carts),
    o.prefix,
    o.route.keyPrefix ?? "",
    ...o.route.requests.flatMap((r) => [r.method, r.template, r.body ?? ""]),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(o.wrk, args, { stdio: ["ignore", "pipe", "pipe"] });
    track(child, "wrk");
    // /proc/<pid> vanishes at exit, so sample while it runs; the last sample
    // misses at most 100 ms of wrk's CPU.
    let cpuSeconds = 0;
    const sampler = setInterval(() => {
      const s = child.pid === undefined ? undefined : procSeconds(child.pid);
      if (s !== undefined) cpuSeconds = s;
    }, 100);
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
    // wrk stops by itself after -d; this is the bound if it does not.
    const killer = setTimeout(() => child.kill("SIGKILL"), seconds * 1000 + 30_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      clearInterval(sampler);
      const line = out.split("\n").find((l) => l.startsWith("WRKJSON "));
      if (line === undefined)
        reject(new Error(`wrk exited (${code}) without a result: ${out.slice(-400)}`));
      else resolve({ result: JSON.parse(line.slice("WRKJSON ".length)) as WrkJson, cpuSeconds });
    });
  });
}

/** A warm-up run, then the measured run, summarised like the node client's runs. */
export async function runWrk(o: WrkOptions): Promise<Summary> {
  if (o.warmupMs > 0) await once(o, o.warmupMs);
  o.probe?.start();
  const { result: r, cpuSeconds } = await once(o, o.durationMs);
  o.probe?.end();
  o.probe?.external?.("wrk (client)", cpuSeconds);
  const seconds = r.us / 1e6;
  const ok = r.requests - r.statusErrors;
  const errors = Object.values(r.errorsByKind).reduce((a, b) => a + b, 0);
  // With no successful answer wrk's histogram holds only failures (or nothing):
  // no latency to report.
  const ms = (us: number): number => (ok > 0 ? us / 1000 : NaN);
  return {
    ok,
    errors,
    errorsByKind: r.errorsByKind,
    seconds,
    rps: seconds > 0 ? ok / seconds : 0,
    p50: ms(r.p50),
    p90: ms(r.p90),
    p99: ms(r.p99),
    p999: ms(r.p999),
    max: ms(r.max),
    mean: ms(r.mean),
  };
}
