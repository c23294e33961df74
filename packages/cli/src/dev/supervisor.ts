/**
 * Keeps the user function of `cairn dev` running: starts it, regenerates
 * the project's TypeScript when a `.proto` changes, restarts it when its
 * files change, and restarts it after a crash with backoff, giving up on a
 * crash loop with a line that says what to do.
 */
import { join, relative } from "node:path";
import { CliError } from "../errors.js";
import { generate } from "../gen/generate.js";
import { describeGen } from "../commands/gen.js";
import { CrashPolicy } from "./crash-policy.js";
import { FunctionProcess } from "./function-process.js";
import { watchTree } from "./watch.js";
import type { TreeWatcher } from "./watch.js";
import { isStale, markFresh } from "./gen-stale.js";

/** Where `cairn dev` regenerates code from and to (absolute paths). */
export interface DevGen {
  readonly protoDir: string;
  readonly outDir: string;
}

/** Options of {@link DevSupervisor}. */
export interface DevSupervisorOptions {
  readonly entry: string;
  readonly port: number;
  /** Folders to watch; false: never restart on changes. */
  readonly watch: readonly string[] | false;
  /** Regenerate on .proto changes (and at start when stale); undefined: no codegen. */
  readonly gen?: DevGen;
  readonly say: (line: string) => void;
}

const RESTART_DEBOUNCE_MS = 150;
/** A generated file's own watch event, arriving after we wrote it, must not restart twice. */
const OWN_WRITE_WINDOW_MS = 3000;

/** The function process and everything that restarts it. */
export class DevSupervisor {
  private readonly fn: FunctionProcess;
  private readonly crashes = new CrashPolicy();
  private watcher: TreeWatcher | undefined;
  private crashTimer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> = Promise.resolve();
  private readonly ownWrites = new Map<string, number>();
  private stopped = false;

  constructor(private readonly options: DevSupervisorOptions) {
    this.fn = new FunctionProcess({
      entry: options.entry,
      port: options.port,
      prefix: "[function] ",
      onExit: (code, signal, ranMs) => this.exited(code, signal, ranMs),
    });
  }

  /** Generates code if it is older than the protos, starts the function, then watches. */
  async start(): Promise<void> {
    const gen = this.options.gen;
    if (gen !== undefined && isStale(gen.protoDir, gen.outDir)) {
      if (await this.regenerate([])) markFresh(gen.outDir);
    }
    this.fn.start();
    if (this.options.watch === false) return;
    this.watcher = watchTree(
      this.options.watch,
      RESTART_DEBOUNCE_MS,
      (paths) => this.changed(paths),
      (err) =>
        this.options.say(
          `cairn dev: watching files failed (${err.message}); restarts may be missed`,
        ),
    );
    await this.watcher.ready;
  }

  /** Stops watching and stops the function. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.crashTimer);
    await this.watcher?.close();
    await this.restarting;
    await this.fn.stop();
  }

  private changed(paths: readonly string[]): void {
    const now = Date.now();
    const fresh = paths.filter((p) => (this.ownWrites.get(p) ?? 0) < now);
    if (fresh.length === 0) return;
    const shown = fresh.map((p) => relative(process.cwd(), p));
    this.options.say(
      `cairn dev: ${shown.slice(0, 3).join(", ")}${shown.length > 3 ? ", ..." : ""} changed; restarting the function`,
    );
    // Chained so that a change during a slow stop never starts two children.
    this.restarting = this.restarting
      .then(async () => {
        clearTimeout(this.crashTimer);
        this.crashes.reset();
        const protos = fresh.filter((p) => p.endsWith(".proto"));
        if (protos.length > 0 && this.options.gen !== undefined) {
          if (!(await this.regenerate(protos))) return;
        }
        if (!this.stopped) await this.fn.restart();
      })
      // A failed restart must not end the chain: the next change tries again.
      .catch((err: unknown) =>
        this.options.say(
          `cairn dev: restarting the function failed: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
  }

  /** Runs codegen; false (and the reason said) when the protos do not compile. */
  private async regenerate(changed: readonly string[]): Promise<boolean> {
    const gen = this.options.gen!;
    const cwd = process.cwd();
    try {
      const result = await generate({ protoDir: gen.protoDir, outDir: gen.outDir, cwd });
      const until = Date.now() + OWN_WRITE_WINDOW_MS;
      for (const rel of [...result.written, ...result.removed]) {
        this.ownWrites.set(join(gen.outDir, rel), until);
      }
      const why = changed.length === 0 ? "older than the protos" : "a proto changed";
      this.options.say(
        `cairn dev: regenerated (${why}): ${describeGen(result, relative(cwd, gen.protoDir) || ".", relative(cwd, gen.outDir))}`,
      );
      return true;
    } catch (err) {
      const message = err instanceof CliError ? err.message : String(err);
      this.options.say(
        `cairn dev: ${message}\ncairn dev: fix the proto and save it; the function keeps running the code generated last`,
      );
      return false;
    }
  }

  private exited(code: number | null, signal: NodeJS.Signals | null, ranMs: number): void {
    if (this.stopped) return;
    const how = signal === null ? `with code ${code ?? "?"}` : `on ${signal}`;
    const ran = `after ${(ranMs / 1000).toFixed(1)} s`;
    const decision = this.crashes.crashed(ranMs);
    if (decision.kind === "restart") {
      this.options.say(
        `cairn dev: the function exited ${how} ${ran}; restarting it in ${decision.delayMs / 1000} s (crash ${decision.crash} in a row)`,
      );
      this.crashTimer = setTimeout(() => {
        if (!this.stopped) this.fn.start();
      }, decision.delayMs);
      return;
    }
    const next =
      this.options.watch === false ? "then restart cairn dev" : "then save a file to restart it";
    this.options.say(
      `cairn dev: the function exited ${how} ${ran}; it crashed ${decision.crashes} times in a row, each soon after starting, so restarting cannot help: not restarting it again. Fix the error in its output above (the [function] lines), ${next}`,
    );
  }
}
