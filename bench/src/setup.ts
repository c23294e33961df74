/**
 * The setup printed above the numbers: the machine, the software, the store
 * and its durability, the load shape and which load generator ran. A number
 * without its setup cannot be compared with anything.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as os from "node:os";
import type { BenchOptions } from "./options.js";
import { ROOT } from "./procs.js";
import type { HttpGenerator } from "./scenarios.js";
import { findWrk } from "./wrk.js";

/** The machine and the run's parameters, printed above the numbers. */
export interface Setup {
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
export function httpGenerator(
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

export function describeSetup(o: BenchOptions, httpClient: string): Setup {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    commit: gitCommit(),
    store: o.vs && !o.scenariosGiven ? `side by side on ${o.vsSites.join(", ")}` : o.store,
    durability:
      o.vs && !o.scenariosGiven
        ? "SQLite WAL, synchronous=FULL on both sides; PostgreSQL as the server is configured (see Databases below)"
        : durabilityOf(o.store),
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

export function printSetup(s: Setup, print: (line: string) => void): void {
  print(
    "Cairn bench: shopping cart, value entity and action through the runtime, beside bare transport baselines",
  );
  print(`  date         ${s.date}`);
  print(
    `  machine      ${s.cpu}, ${s.cores} cores, ${s.memoryGiB} GiB; load avg ${s.loadavgAtStart.join(" ")}`,
  );
  print(`  node         ${s.node}; commit ${s.commit}`);
  print(`  store        ${s.store}; durability: ${s.durability}`);
  print(
    `  load         ${s.concurrency} in flight (serial: 1), ${s.carts} carts (and counters), ${s.warmupS} s warm-up + ${s.durationS} s measured per scenario`,
  );
  print(`  HTTP client  ${s.httpClient}`);
  print(`  generator    ${s.loadGenerator}`);
}
