/**
 * The processes a bench run starts: baseline echo servers, a user function
 * (the shopping-cart sample or the bench's own) and a runtime node (the real
 * CLI binary). Same approach as the
 * sample's test harness (`examples/shopping-cart/test/harness.ts`): ports are
 * chosen by the OS and read back from each process's JSON start-up line.
 *
 * Every child is registered so that it is stopped when the bench ends, however
 * it ends: normal return, thrown error, Ctrl-C, or an uncaught exception.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
/** Repository root: bench/src or bench/dist are two levels down. */
export const ROOT = resolve(HERE, "../..");
const CLI = join(ROOT, "packages/cli/dist/bin.js");
const SAMPLES = {
  "shopping-cart": join(ROOT, "examples/shopping-cart/src/main.ts"),
  "user-session": join(ROOT, "examples/user-session/src/main.ts"),
} as const;
/** True when the bench itself runs from TypeScript sources (tsx), not from dist. */
const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** Every child still running, by name: stopped at exit, watched by the CPU probe. */
const live = new Map<ChildProcess, string>();

/** The running children, for the CPU probe. */
export function liveProcesses(): Array<{ name: string; pid: number | undefined }> {
  return [...live].map(([child, name]) => ({ name, pid: child.pid }));
}

/** Registers a child started elsewhere (wrk) so it is killed if the bench ends early. */
export function track(child: ChildProcess, name: string): void {
  live.set(child, name);
  child.on("exit", () => live.delete(child));
}

/** Temporary directories still to remove; removed at exit if the run was interrupted. */
const scratch = new Set<string>();

function killAllNow(): void {
  for (const child of live.keys()) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
process.on("exit", () => {
  killAllNow();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

/** A child process; keeps its last output lines for error messages. */
export class Proc {
  private readonly tail: string[] = [];
  private listeners: Array<(line: string) => void> = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.set(child, name);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on("line", (line) => {
        // Bounded: a runtime logging at high rate must not grow the bench's heap.
        this.tail.push(line);
        if (this.tail.length > 200) this.tail.shift();
        if (process.env.CAIRN_BENCH_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
        for (const l of this.listeners) l(line);
      });
    }
    this.exited = new Promise((r) =>
      child.on("exit", (code, signal) => {
        live.delete(child);
        r(code ?? (signal ? -1 : null));
      }),
    );
  }

  get lines(): readonly string[] {
    return this.tail;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Resolves with the first line that matches: already seen or future, or
   * with `fresh` only a line printed from now on (an answer to a request).
   */
  waitForLine(
    match: (line: string) => boolean,
    timeoutMs = 30_000,
    fresh = false,
  ): Promise<string> {
    const seen = fresh ? undefined : this.tail.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${this.name}: no awaited line within ${timeoutMs} ms; last output:\n${this.tail.slice(-20).join("\n")}`,
          ),
        );
      }, timeoutMs);
      const listener = (line: string): void => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      this.listeners.push(listener);
      this.exited.then((code) => {
        if (!this.listeners.includes(listener)) return;
        done();
        reject(
          new Error(
            `${this.name} exited (${code}) before it was ready; last output:\n${this.tail.slice(-20).join("\n")}`,
          ),
        );
      }, reject);
    });
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Parses a JSON log line, or undefined for anything else. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The file of one of the bench's own modules (`name` without extension), from sources or dist. */
export function ownModule(name: string): string {
  return join(HERE, FROM_SOURCE ? `${name}.ts` : `${name}.js`);
}

/** Node flags that preload one of the bench's own modules into another process (mem-probe). */
export function preloadArgs(name: string): string[] {
  return [...(FROM_SOURCE ? ["--import", "tsx"] : []), "--import", ownModule(name)];
}

/** The command line that runs one of the bench's own scripts (`name` without extension). */
function ownScript(name: string): string[] {
  const script = ownModule(name);
  return FROM_SOURCE ? ["--import", "tsx", script] : [script];
}

/**
 * Starts one of the bench's server scripts and reads the port from its JSON
 * start-up line `{"msg": ready, "port": N}`. stdin is a pipe so the server
 * notices when the bench dies and exits too.
 */
async function startServer(
  name: string,
  script: string,
  args: string[],
  ready: string,
): Promise<{ proc: Proc; port: number }> {
  const child = spawn(process.execPath, [...ownScript(script), ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const proc = new Proc(name, child);
  const line = await proc.waitForLine((l) => jsonLine(l)?.msg === ready);
  return { proc, port: jsonLine(line)!.port as number };
}

/** Starts a baseline echo server (`grpc` or `http`) in its own process. */
export function startEcho(kind: "grpc" | "http"): Promise<{ proc: Proc; port: number }> {
  return startServer(`${kind}-echo`, "echo-server", [kind], "echo listening");
}

/**
 * Starts the stateless three-tier service (three-tier-server.ts) on
 * PostgreSQL (`["postgres", url, schema, poolSize]`) or SQLite (`["sqlite", file]`).
 */
export function startThreeTier(args: string[]): Promise<{ proc: Proc; port: number }> {
  return startServer("three-tier", "three-tier-server", args, "three-tier listening");
}

/**
 * Starts a user function: a sample (shopping-cart or user-session, TypeScript through tsx, as
 * its README runs it), or the bench's own (bench-function.ts: through tsx from
 * sources, compiled from dist).
 */
export async function startFunction(
  which: keyof typeof SAMPLES | "bench" = "shopping-cart",
  name = "function",
  nodeArgs: string[] = [],
): Promise<{ proc: Proc; port: number }> {
  const args = [
    ...nodeArgs,
    ...(which === "bench" ? ownScript("bench-function") : ["--import", "tsx", SAMPLES[which]]),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, CAIRN_FUNCTION_HOST: "127.0.0.1", CAIRN_FUNCTION_PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = new Proc(name, child);
  const line = await proc.waitForLine((l) => {
    const j = jsonLine(l);
    return typeof j?.port === "number" && typeof j.msg === "string" && /listen|serv/i.test(j.msg);
  });
  return { proc, port: jsonLine(line)!.port as number };
}

/** A running runtime node and its ports. */
export interface RuntimeProc {
  proc: Proc;
  port: number;
  adminPort: number;
}

/** How to start a runtime beyond its store and function. */
export interface RuntimeStart {
  /** Process name in progress lines and CPU notes (default "runtime"). */
  name?: string;
  /** Flags for node itself, before the CLI (`--cpu-prof`, `--expose-gc`, `--import`). */
  nodeArgs?: string[];
  /** Extra environment (CAIRN_* options). */
  env?: Record<string, string>;
}

/** Starts a runtime node on `store`, pointed at the function, and waits for `/readyz`. */
export async function startRuntime(
  functionPort: number,
  store: string,
  start: RuntimeStart = {},
): Promise<RuntimeProc> {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: build first (npm run build), or run through npm run bench`);
  const args = [
    ...(start.nodeArgs ?? []),
    CLI,
    "runtime",
    "--function",
    `127.0.0.1:${functionPort}`,
    "--store",
    store,
    "--port",
    "0",
    "--admin-port",
    "0",
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...start.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = new Proc(start.name ?? "runtime", child);
  const line = await proc.waitForLine((l) => jsonLine(l)?.msg === "cairn runtime started");
  const j = jsonLine(line)!;
  const port = Number(String(j.ingress).split(":").pop());
  const adminPort = Number(String(j.admin).split(":").pop());
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok,
    30_000,
    "runtime /readyz",
  );
  return { proc, port, adminPort };
}

/** Polls a condition until it holds or the deadline passes. */
export async function waitUntil(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`,
  );
}

/** A fresh temporary directory and its removal. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-"));
  scratch.add(dir);
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      scratch.delete(dir);
    },
  };
}
