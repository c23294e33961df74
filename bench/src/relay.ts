/**
 * The database one network hop away (issue 14): a relay on loopback that
 * delays each direction of the PostgreSQL traffic by a fixed time, used by
 * the three-tier service and by Cairn alike.
 *
 * The relay is bench/native/delay-relay.c, compiled on first use with the
 * machine's C compiler: Node's timers have a resolution of one millisecond
 * (a 1 ms timer fires 1-2 ms later, more on a busy machine), so they cannot
 * hold a steady sub-millisecond delay; the C relay arms a timerfd for
 * nanosecond deadlines from one epoll loop, cheap per chunk under load. It also counts the
 * PostgreSQL round trips of the client side (queries and syncs, and those
 * inside each transaction), which is how the bench counts the round trips
 * of one group commit. The per-query round trip is measured, not assumed
 * ({@link measureRoundTrip}), and printed with the results.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { Proc, ROOT, jsonLine } from "./procs.js";

const SOURCE = join(ROOT, "bench/native/delay-relay.c");
const BINARY = join(ROOT, "bench/dist/native/delay-relay");

/** Counters of the relay since its last reset. */
export interface RelayStats {
  connections: number;
  chunks: number;
  bytes: number;
  /** Simple-protocol queries (BEGIN, COMMIT, ...). */
  queries: number;
  /** Extended-protocol syncs: one per parameterised query with node-postgres. */
  syncs: number;
  begins: number;
  commits: number;
  rollbacks: number;
  /** Round trips inside transactions, BEGIN and COMMIT included. */
  txRoundTrips: number;
  /** Transactions by their round trips (index 15: 15 or more). */
  txHistogram: number[];
  /** How late chunks left against their deadline: mean and max, microseconds. */
  lateMeanUs: number;
  lateMaxUs: number;
}

/** A running relay. */
export interface Relay {
  proc: Proc;
  port: number;
  stats(): Promise<RelayStats>;
  reset(): void;
}

/** Compiles the relay when its binary is missing or older than its source; an error names the fix. */
export function buildRelay(): { value: string } | { error: string } {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs)
    return { value: BINARY };
  mkdirSync(join(BINARY, ".."), { recursive: true });
  try {
    execFileSync("cc", ["-O2", "-o", BINARY, SOURCE], { stdio: "pipe" });
    return { value: BINARY };
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    return {
      error: `cannot compile the delay relay ${SOURCE} with cc: ${detail.slice(0, 300)}; install a C compiler (apt-get install gcc) or leave out the pg-remote site`,
    };
  }
}

/** Starts the relay in front of `host:port` with `delayUs` each way. */
export async function startRelay(
  binary: string,
  host: string,
  port: number,
  delayUs: number,
): Promise<Relay> {
  const child = spawn(binary, [host, String(port), String(delayUs)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const proc = new Proc("relay", child);
  const ready = await proc.waitForLine((l) => jsonLine(l)?.msg === "relay listening");
  return {
    proc,
    port: jsonLine(ready)!.port as number,
    async stats() {
      const answer = proc.waitForLine((l) => l.startsWith('{"connections"'), 5_000, true);
      child.stdin.write("stats\n");
      return JSON.parse(await answer) as RelayStats;
    },
    reset() {
      child.stdin.write("reset\n");
    },
  };
}

/** Per-query round trip of a connection: `SELECT 1` one after another. */
export interface RoundTrip {
  p50: number;
  p99: number;
  min: number;
}

/** Times `n` sequential `SELECT 1` on one connection to `url` (after 20 unmeasured). */
export async function measureRoundTrip(url: string, n = 300): Promise<RoundTrip> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const ms: number[] = [];
    for (let i = 0; i < n + 20; i++) {
      const t0 = performance.now();
      await client.query("SELECT 1");
      if (i >= 20) ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    const at = (q: number): number => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)]!;
    return { p50: at(0.5), p99: at(0.99), min: ms[0]! };
  } finally {
    await client.end();
  }
}

/** "PostgreSQL 15.20, fsync on, synchronous_commit on": what durability the server gives. */
export async function serverSettings(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const show = async (name: string): Promise<string> =>
      (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;
    return `PostgreSQL ${await show("server_version")}, fsync ${await show("fsync")}, synchronous_commit ${await show("synchronous_commit")}`;
  } finally {
    await client.end();
  }
}

/**
 * The URL with its host and port replaced (the relay's), keeping user,
 * database and parameters; and the original host as an IPv4 address, which
 * the relay connects to.
 */
export function viaRelay(url: string, relayPort: number): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(relayPort);
  return u.toString();
}

/** Host (IPv4) and port of a PostgreSQL URL, for the relay's upstream. */
export function upstreamOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname === "localhost" || u.hostname === "" ? "127.0.0.1" : u.hostname;
  return { host, port: Number(u.port || 5432) };
}
