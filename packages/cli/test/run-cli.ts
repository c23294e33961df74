/** Runs the built CLI as a real process (asynchronously: tests serve HTTP in this process). */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built binary; `npx tsc -b packages/cli` makes it. */
export const BIN = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
/**
 * Preloaded into every CLI child with an IPC channel to it, so the child
 * exits when this test process dies by any means (a timed-out worker
 * included) instead of living on as an orphan holding ports.
 */
const GUARD = new URL("../dist/dev/parent-guard.js", import.meta.url).href;

/** What a CLI run produced. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cairn <args>`, with optional stdin, extra environment and folder; kills it after 20 s (or `timeoutMs`). */
export function runCli(
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", GUARD, BIN, ...args], {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe", "ipc"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/** A long-running CLI process (runtime, dev) that a test controls. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves with the first match of `pattern` in stderr, polling until `timeoutMs`. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The same on stdout. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Kills the process (SIGKILL) if it still runs; for afterEach. */
  kill(): Promise<void>;
}

/** Options of {@link startCli}. */
export interface StartCliOptions {
  /** Added to this process's environment, or the whole of it with `inheritEnv: false`. */
  readonly env?: NodeJS.ProcessEnv;
  readonly inheritEnv?: boolean;
  readonly cwd?: string;
  /** Another install's cairn (default: this checkout's build). */
  readonly bin?: string;
}

/** Starts `cairn <args>` in the background. */
export function startCli(args: string[], options: StartCliOptions = {}): CliProcess {
  const child = spawn(process.execPath, ["--import", GUARD, options.bin ?? BIN, ...args], {
    env: options.inheritEnv === false ? options.env : { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const waitFor = async (
    text: () => string,
    name: string,
    pattern: RegExp,
    timeoutMs = 15_000,
  ): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(text());
      if (match !== null) return match;
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(
          `no ${String(pattern)} in ${name} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    waitForStderr: (pattern, timeoutMs) => waitFor(() => err, "stderr", pattern, timeoutMs),
    waitForStdout: (pattern, timeoutMs) => waitFor(() => out, "stdout", pattern, timeoutMs),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
