/**
 * Test harness: real runtime and user-function processes on 127.0.0.1.
 * Ports are chosen by the OS (port 0) and read back from the processes' own
 * structured start-up log lines, so parallel test files never collide.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

export const ROOT = resolve(import.meta.dirname, "../../..");

/** The test PostgreSQL server: `CAIRN_TEST_POSTGRES_URL`, else the local one (trust auth). */
export const PG_TEST_URL =
  process.env.CAIRN_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const CLI = join(ROOT, "packages/cli/dist/bin.js");
const SAMPLE = join(ROOT, "examples/shopping-cart/src/main.ts");
/**
 * Preloaded into every child (`--import`) with an IPC channel open to it: the
 * child exits when this test process goes away by any means (a timed-out or
 * killed worker included), so a failed run never leaves runtimes and
 * functions behind holding ports and CPU. The same guard `cairn dev` uses.
 */
export const PARENT_GUARD = pathToFileURL(join(ROOT, "packages/cli/dist/dev/parent-guard.js")).href;

/** A child process with its output lines kept for assertions and debugging. */
export class Proc {
  readonly lines: string[] = [];
  private listeners: Array<(line: string) => void> = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.lines.push(line);
        if (process.env.CAIRN_TEST_VERBOSE) process.stderr.write(`[${name}] ${line}\n`);
        for (const l of this.listeners) l(line);
      });
    }
    this.exited = new Promise((r) =>
      child.on("exit", (code, signal) => r(code ?? (signal ? -1 : null))),
    );
  }

  /** Resolves with the first line (past or future) that matches. */
  waitForLine(match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        reject(
          new Error(
            `${this.name}: no matching output within ${timeoutMs} ms; output:\n${this.lines.slice(-30).join("\n")}`,
          ),
        );
      }, timeoutMs);
      const listener = (line: string) => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        resolve(line);
      };
      this.listeners.push(listener);
      this.exited.then((code) => {
        if (!this.listeners.includes(listener)) return;
        clearTimeout(timer);
        reject(
          new Error(
            `${this.name} exited (${code}) before the expected output; output:\n${this.lines.slice(-30).join("\n")}`,
          ),
        );
      }, reject);
    });
  }

  /** Graceful stop (SIGTERM), then SIGKILL after a grace period. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** kill -9: no chance to clean up. */
  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

function jsonLines(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The user function of the sample, as its own process. */
export async function startFunction(
  port = 0,
  entry = SAMPLE,
  env: Record<string, string> = {},
): Promise<{ proc: Proc; port: number }> {
  const child = spawn(process.execPath, ["--import", PARENT_GUARD, "--import", "tsx", entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      CAIRN_FUNCTION_HOST: "127.0.0.1",
      CAIRN_FUNCTION_PORT: String(port),
    },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const proc = new Proc("function", child);
  const line = await proc.waitForLine((l) => {
    const j = jsonLines(l);
    return typeof j?.port === "number" && typeof j.msg === "string" && /listen|serv/i.test(j.msg);
  });
  return { proc, port: jsonLines(line)!.port as number };
}

/** A runtime node (the real CLI binary) pointed at a function. */
export async function startRuntime(options: {
  functionPort: number;
  store: string;
  args?: string[];
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
}): Promise<{ proc: Proc; port: number; adminPort: number; url: string }> {
  const args = [
    "--import",
    PARENT_GUARD,
    CLI,
    "runtime",
    "--function",
    `127.0.0.1:${options.functionPort}`,
    "--store",
    options.store,
    "--port",
    "0",
    "--admin-port",
    "0",
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: process.env,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const proc = new Proc("runtime", child);
  const line = await proc.waitForLine((l) => jsonLines(l)?.msg === "cairn runtime started");
  const j = jsonLines(line)!;
  const port = Number(String(j.ingress).split(":").pop());
  const adminPort = Number(String(j.admin).split(":").pop());
  if (options.waitReady ?? true) {
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok,
      20_000,
      "runtime ready",
    );
  }
  return { proc, port, adminPort, url: `http://127.0.0.1:${port}` };
}

/** A sample function and a runtime on a fresh SQLite file, as most suites start them. */
export interface SqliteSystem {
  readonly dir: string;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  /** Stops the runtime, then the function, and removes the folder. */
  stop(): Promise<void>;
}

/** Starts the shopping-cart function and a runtime over `<tmp>/cairn.db` with extra runtime `args`. */
export async function startSqliteSystem(args: string[] = []): Promise<SqliteSystem> {
  const tmp = tempDir();
  const f = await startFunction();
  const r = await startRuntime({ functionPort: f.port, store: `${tmp.dir}/cairn.db`, args });
  return {
    dir: tmp.dir,
    port: r.port,
    adminPort: r.adminPort,
    url: r.url,
    stop: async () => {
      await r.proc.stop();
      await f.proc.stop();
      tmp.cleanup();
    },
  };
}

/** Polls a condition until it holds or the deadline passes. */
export async function waitUntil(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err instanceof Error ? err : new Error(String(err));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`,
  );
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "cairn-test-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** JSON over HTTP, returning status and parsed body. */
export async function http(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    // keep the raw text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A shell command of a README, with the JSON its `# {...}` comment line says it prints. */
export interface ReadmeCommand {
  readonly command: string;
  readonly expected?: unknown;
}

/**
 * The commands of a Markdown file's `sh` blocks that start with one of
 * `prefixes` (continuation lines joined), so a test runs the README as a
 * reader pastes it.
 */
export function readmeCommands(markdown: string, prefixes: readonly string[]): ReadmeCommand[] {
  const out: Array<{ command: string; expected?: unknown }> = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = (block[1] ?? "").replace(/\\\n\s*/g, "").split("\n");
    for (const line of lines) {
      const comment = /^# (\{.*\})$/.exec(line.trim());
      const last = out[out.length - 1];
      if (comment !== null && last !== undefined && last.expected === undefined) {
        try {
          last.expected = JSON.parse(comment[1] ?? "");
        } catch {
          // a comment with "..." in it: prose, not output
        }
        continue;
      }
      const command = line.replace(/\s+#.*$/, "").trim();
      if (prefixes.some((p) => command.startsWith(p))) out.push({ command });
    }
  }
  return out;
}

/** The part of a Markdown file under `## heading`, up to the next `## `. */
export function markdownSection(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const end = markdown.indexOf("\n## ", start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}
