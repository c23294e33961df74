/**
 * The user function as a child process of `cairn dev`: TypeScript run
 * directly through tsx's loader, output forwarded line by line with a
 * prefix, restarted on demand.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { formatLine } from "./pretty-log.js";

/** Options of {@link FunctionProcess}. */
export interface FunctionProcessOptions {
  /** The entry file, e.g. src/main.ts. */
  readonly entry: string;
  /** Port the function's gRPC server must bind (passed as CAIRN_FUNCTION_PORT). */
  readonly port: number;
  /** Prefix of forwarded output lines. */
  readonly prefix: string;
  /** Called when the child exits without being asked to, after running `ranMs`. */
  onExit(code: number | null, signal: NodeJS.Signals | null, ranMs: number): void;
}

/** Time a child gets to stop on SIGTERM before it is killed. */
const STOP_GRACE_MS = 3000;

/** A restartable child process running the user function. */
export class FunctionProcess {
  private child: ChildProcess | undefined;
  // Resolved from the CLI's own location, so any project folder works.
  private readonly loader = import.meta.resolve("tsx");
  private readonly guard = import.meta.resolve("./parent-guard.js");

  constructor(private readonly options: FunctionProcessOptions) {}

  /** True while a child runs. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the child (no-op when one is running). */
  start(): void {
    if (this.child !== undefined) return;
    const child = spawn(
      process.execPath,
      ["--import", this.loader, "--import", this.guard, this.options.entry],
      {
        env: {
          ...process.env,
          CAIRN_FUNCTION_HOST: "127.0.0.1",
          CAIRN_FUNCTION_PORT: String(this.options.port),
        },
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        // Its own process group: a terminal Ctrl-C reaches only `cairn dev`,
        // which stops the runtime (draining through the live function) first
        // and the function last. parent-guard ends it if we die.
        detached: true,
      },
    );
    this.child = child;
    const startedAt = performance.now();
    forward(child.stdout, process.stdout, this.options.prefix);
    forward(child.stderr, process.stderr, this.options.prefix);
    child.once("exit", (code, signal) => {
      if (this.child !== child) return; // stopped on purpose
      this.child = undefined;
      this.options.onExit(code, signal, performance.now() - startedAt);
    });
    child.once("error", (err) => {
      process.stderr.write(`${this.options.prefix}cannot start: ${err.message}\n`);
    });
  }

  /** Stops the child: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the running child (if any) and starts a fresh one. */
  async restart(): Promise<void> {
    await this.stop();
    this.start();
  }
}

function forward(from: Readable | null, to: Writable, prefix: string): void {
  if (from === null) return;
  const lines = createInterface({ input: from, crlfDelay: Infinity });
  // The SDK logs JSON lines too; the same formatting keeps the terminal readable.
  lines.on("line", (line) => {
    const text = formatLine(line);
    to.write(`${prefix}${text.endsWith("\n") ? text : `${text}\n`}`);
  });
}
